"""The y-remover: the paper's pair-wise loss (Eq. 7) that removes identity from the feature.

In the contrastive form of the reference code, over all pairs (i, j), i < j, of a batch:

    L = mean_pairs [ d_ij^2                  if y_i != y_j   (different identities: pull together)
                     max(margin - d_ij, 0)^2  if y_i == y_j ]  (same identity: push apart)

with d_ij the Euclidean distance between the two features. It is the reverse of the
usual contrastive loss. Computed over every pair of one forward pass, not with a
two-branch network.
"""

from __future__ import annotations

import threading

import keras
import tensorflow as tf

#: The reference code's defaults.
DEFAULT_MARGIN = 10.0
DEFAULT_BETA = 0.01
_EPS = 1e-12


def pair_terms(features, identities, margin):
  """Per-pair loss terms and the same-identity mask over the upper triangle (i < j)."""
  f = tf.cast(features, tf.float32)
  y = tf.reshape(identities, [-1])
  sq = tf.reduce_sum(tf.square(f), axis=1)
  d2 = tf.maximum(sq[:, None] + sq[None, :] - 2.0 * tf.matmul(f, f, transpose_b=True), 0.0)
  # sqrt(d2 + eps) keeps the gradient finite for a pair at distance zero.
  d = tf.sqrt(d2 + _EPS)
  same = tf.equal(y[:, None], y[None, :])
  terms = tf.where(same, tf.square(tf.nn.relu(margin - d)), d2)
  n = tf.shape(f)[0]
  upper = tf.linalg.band_part(tf.ones([n, n]), 0, -1) - tf.linalg.band_part(tf.ones([n, n]), 0, 0)
  return terms, tf.cast(same, tf.float32), upper


def loss_and_same_fraction(features, identities, margin=DEFAULT_MARGIN):
  """(mean of the pair terms over all pairs i < j, fraction of those pairs with one identity)."""
  terms, same, upper = pair_terms(features, identities, margin)
  n_pairs = tf.reduce_sum(upper)
  return (tf.math.divide_no_nan(tf.reduce_sum(terms * upper), n_pairs),
          tf.math.divide_no_nan(tf.reduce_sum(same * upper), n_pairs))


def grouped_loss_and_same_fraction(features, identities, groups, margin=DEFAULT_MARGIN):
  """The pair loss within each of ``groups`` consecutive equal slices of the batch, averaged over slices.

  What R replicas of a distributed run compute on one global batch (pairs never cross replicas),
  reproduced on one device. The batch size must be a multiple of ``groups``.
  """
  f = tf.reshape(features, [groups, -1, tf.shape(features)[-1]])
  y = tf.reshape(identities, [groups, -1])
  per_group = [loss_and_same_fraction(f[g], y[g], margin) for g in range(groups)]
  return tuple(tf.reduce_mean(tf.stack(v)) for v in zip(*per_group))


def y_remover_loss(features, identities, margin=DEFAULT_MARGIN):
  """Mean of the pair terms over all pairs i < j of the batch (0 for a batch of one)."""
  return loss_and_same_fraction(features, identities, margin)[0]


@keras.saving.register_keras_serializable(package="dpfe_tf")
class YRemover(keras.layers.Layer):
  """Identity pass-through on the private feature that adds ``beta * L_pair`` in training only.

  Inputs: ``[features (B, dim), identities (B,)]``. Output: the features unchanged. With
  ``groups`` > 1, training pairs are formed within each of ``groups`` consecutive slices of the
  batch (one device reproducing a distributed run; see ``dpfe_tf.distribute``). The
  unweighted pair loss is logged as the metric ``y_remover``, the fraction of
  same-identity pairs in the batch as ``same_pairs``.
  """

  def __init__(self, margin=DEFAULT_MARGIN, beta=DEFAULT_BETA, groups=1, **kwargs):
    super().__init__(**kwargs)
    self.margin = float(margin)
    self.beta = float(beta)
    self.groups = int(groups)
    if self.groups < 1:
      raise ValueError(f"groups must be >= 1, got {groups}")
    self.loss_tracker = keras.metrics.Mean(name="y_remover")
    self.same_tracker = keras.metrics.Mean(name="same_pairs")

  def call(self, inputs, training=None):
    features, identities = inputs
    if training and self.groups > 1:
      loss, same_fraction = grouped_loss_and_same_fraction(features, identities, self.groups, self.margin)
    else:
      loss, same_fraction = loss_and_same_fraction(features, identities, self.margin)
    if training:
      self.add_loss(self.beta * loss)
    # Logged in training and validation alike (validation batches are not P x K).
    self.loss_tracker.update_state(loss)
    self.same_tracker.update_state(same_fraction)
    return features

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  # Keras keeps a layer's add_loss() values in one list on the layer. MirroredStrategy runs its
  # replicas in Python threads, so with one list each replica would add every replica's pair
  # loss to its own (R x the y-remover, measured). One list per thread keeps replicas apart.
  @property
  def _losses(self):
    store = self.__dict__.get("_losses_per_thread")
    if store is None:
      store = self.__dict__["_losses_per_thread"] = threading.local()
    if not hasattr(store, "values"):
      store.values = []
    return store.values

  @_losses.setter
  def _losses(self, value):
    self._losses[:] = list(value)

  def get_config(self):
    return {**super().get_config(), "margin": self.margin, "beta": self.beta, "groups": self.groups}
