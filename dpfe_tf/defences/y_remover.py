"""The y-remover (``--defence=dpfe``): the paper's pair-wise loss (Eq. 7) that removes identity.

In the contrastive form of the reference code, over all pairs (i, j), i < j, of a batch:

    L = mean_pairs [ d_ij^2                  if y_i != y_j   (different identities: pull together)
                     max(margin - d_ij, 0)^2  if y_i == y_j ]  (same identity: push apart)

with d_ij the Euclidean distance between the two features: the reverse of the usual
contrastive loss. Computed over every pair of one forward pass, not with a two-branch network.
On a batch-normalised code the mean squared pair distance is near 2 x dim, so margins are
best given relative to sqrt(2 x dim) (``config.margin_scale``); the reference's margin 10 at
dim 10 is sqrt(5) of those units.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.defences import base

_EPS = 1e-12


def pair_terms(features, identities, margin):
  """Per-pair loss terms and the same-identity mask over the upper triangle (i < j)."""
  d2 = base.pairwise_sq_distances(features)
  y = tf.reshape(identities, [-1])
  # sqrt(d2 + eps) keeps the gradient finite for a pair at distance zero.
  d = tf.sqrt(d2 + _EPS)
  same = tf.equal(y[:, None], y[None, :])
  terms = tf.where(same, tf.square(tf.nn.relu(margin - d)), d2)
  n = tf.shape(d2)[0]
  upper = tf.linalg.band_part(tf.ones([n, n]), 0, -1) - tf.linalg.band_part(tf.ones([n, n]), 0, 0)
  return terms, tf.cast(same, tf.float32), upper


def loss_and_same_fraction(features, identities, margin, keep=None):
  """(mean of the pair terms over the pairs i < j, fraction of those pairs with one identity);
  ``keep`` (n, n; 1 or 0) leaves pairs out of both means (None: every pair counts)."""
  terms, same, upper = pair_terms(features, identities, margin)
  counted = upper if keep is None else upper * tf.cast(keep, tf.float32)
  n_pairs = tf.reduce_sum(counted)
  return (tf.math.divide_no_nan(tf.reduce_sum(terms * counted), n_pairs),
          tf.math.divide_no_nan(tf.reduce_sum(same * counted), n_pairs))


def y_remover_loss(features, identities, margin):
  """Mean of the pair terms over all pairs i < j of the batch (0 for a batch of one)."""
  return loss_and_same_fraction(features, identities, margin)[0]


@keras.saving.register_keras_serializable(package="dpfe_tf")
class YRemover(base.Defence):
  """beta x the pair loss; logs the unweighted loss (``y_remover``) and the fraction of
  same-identity pairs in the batch (``same_pairs``)."""
  metric_names = ("y_remover", "same_pairs")

  def __init__(self, margin=10.0, beta=0.01, groups=1, **kwargs):
    super().__init__(beta=beta, groups=groups, **kwargs)
    self.margin = float(margin)

  def pair_space(self, features, identities):
    """Where pair distances are measured: the feature itself (``whitened_y_remover`` whitens it)."""
    return features

  def pair_keep(self, identities, labels):
    """Which pairs count (None: all; ``conditional_y_remover`` keeps those that share the labels)."""
    return None

  def pair_loss(self, features, identities, labels=None, margin=None):
    """(mean pair term, same-identity fraction) in ``pair_space``, within each of ``groups`` slices."""
    margin = self.margin if margin is None else margin

    def slice_loss(f, y, *l):
      return loss_and_same_fraction(self.pair_space(f, y), y, margin, self.pair_keep(y, l[0] if l else None))

    tensors = (features, identities) if labels is None else (features, identities, labels)
    return base.per_group(slice_loss, self.groups, *tensors)

  def call(self, features, identities, labels=None):
    loss, same = self.pair_loss(features, identities, labels)
    weighted = self.beta * loss
    return weighted, weighted, {"y_remover": loss, "same_pairs": same}

  def get_config(self):
    return {**super().get_config(), "margin": self.margin}


def make(beta, margin, num_identities=None, groups=1, feature_dim=None):
  return YRemover(margin=margin, beta=beta, groups=groups, name="y_remover")
