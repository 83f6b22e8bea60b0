"""What every defence is: a layer on the private feature that returns a loss for a batch.

``Defence.call(features, identities, labels=None)`` -> ``(loss, objective, metrics)``
(``labels``: the batch's primary attribute labels, (n, attributes); only a defence that
conditions on them reads them):

- ``loss``: what is added to the attribute loss and differentiated (already weighted by beta);
- ``objective``: what that term is *for the extractor* (the same as ``loss`` except for an
  adversarial defence, whose loss also trains the adversary), so the logged training loss is the
  extractor's objective;
- ``metrics``: {name: scalar} logged per epoch (names in ``metric_names``).

Training only: ``TrainingModel`` calls it in ``train_step``. ``groups`` > 1 forms the batch
statistics within each of ``groups`` consecutive slices, which is what R replicas compute on one
global batch (pairs and batch statistics never cross replicas), reproduced on one device.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class Defence(keras.layers.Layer):
  metric_names: tuple = ()

  def __init__(self, beta=1.0, groups=1, **kwargs):
    super().__init__(**kwargs)
    self.beta = float(beta)
    self.groups = int(groups)
    if self.groups < 1:
      raise ValueError(f"groups must be >= 1, got {groups}")

  def call(self, features, identities, labels=None):  # pragma: no cover - abstract
    raise NotImplementedError

  def get_config(self):
    return {**super().get_config(), "beta": self.beta, "groups": self.groups}


def per_group(fn, groups, *tensors):
  """``fn(*tensors) -> tuple of scalars`` within each of ``groups`` consecutive equal slices of
  the batch (every tensor's first axis), averaged over the slices (the batch size must be a
  multiple of ``groups``)."""
  if groups == 1:
    return fn(*tensors)
  sliced = [tf.reshape(t, tf.concat([[groups, -1], tf.shape(t)[1:]], 0)) for t in tensors]
  per = [fn(*(t[g] for t in sliced)) for g in range(groups)]
  return tuple(tf.reduce_mean(tf.stack(v)) for v in zip(*per))


def pairwise_sq_distances(f):
  f = tf.cast(f, tf.float32)
  sq = tf.reduce_sum(tf.square(f), axis=1)
  return tf.maximum(sq[:, None] + sq[None, :] - 2.0 * tf.matmul(f, f, transpose_b=True), 0.0)
