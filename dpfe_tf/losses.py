"""The y-remover: the paper's pair-wise loss (Eq. 7) that removes identity from the feature.

In the contrastive form of the reference code, over all pairs (i, j), i < j, of a batch:

    L = mean_pairs [ d_ij^2                  if y_i != y_j   (different identities: pull together)
                     max(margin - d_ij, 0)^2  if y_i == y_j ]  (same identity: push apart)

with d_ij the Euclidean distance between the two features. It is the reverse of the
usual contrastive loss. Computed over every pair of one forward pass, not with a
two-branch network.
"""

from __future__ import annotations

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


def y_remover_loss(features, identities, margin=DEFAULT_MARGIN):
  """Mean of the pair terms over all pairs i < j of the batch (0 for a batch of one)."""
  return loss_and_same_fraction(features, identities, margin)[0]


@keras.saving.register_keras_serializable(package="dpfe_tf")
class YRemover(keras.layers.Layer):
  """Identity pass-through on the private feature that adds ``beta * L_pair`` in training only.

  Inputs: ``[features (B, dim), identities (B,)]``. Output: the features unchanged. The
  unweighted pair loss is logged as the metric ``y_remover``, the fraction of
  same-identity pairs in the batch as ``same_pairs``.
  """

  def __init__(self, margin=DEFAULT_MARGIN, beta=DEFAULT_BETA, **kwargs):
    super().__init__(**kwargs)
    self.margin = float(margin)
    self.beta = float(beta)
    self.loss_tracker = keras.metrics.Mean(name="y_remover")
    self.same_tracker = keras.metrics.Mean(name="same_pairs")

  def call(self, inputs, training=None):
    features, identities = inputs
    loss, same_fraction = loss_and_same_fraction(features, identities, self.margin)
    if training:
      self.add_loss(self.beta * loss)
    # Logged in training and validation alike (validation batches are not P x K).
    self.loss_tracker.update_state(loss)
    self.same_tracker.update_state(same_fraction)
    return features

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  def get_config(self):
    return {**super().get_config(), "margin": self.margin, "beta": self.beta}
