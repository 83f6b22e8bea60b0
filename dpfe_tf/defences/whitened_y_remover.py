"""The y-remover in the attacker's metric (``--defence=dpfe_whitened``): DPFE's pair loss on
features whitened by the batch's within-identity covariance.

The strongest attacker of every measured private feature is LDA: it whitens the feature by the
within-identity covariance S_w and reads identity wherever the between-identity spread is large
*relative to* S_w. The paper's y-remover measures pair distances in the Euclidean metric: on a
batch-normalised code it can satisfy its loss by spreading each person's images along a few
directions while identity stays readable along the directions where a person's images barely
vary -- exactly what LDA uses. Here the same pair loss (``y_remover.pair_terms``) is computed on

    z = L^-1 f,   L L^T = (1 - s) S_w + s (tr S_w / dim) I      (S_w from this batch, s = shrinkage)

so a pair's distance is its Mahalanobis distance under S_w. Pulling different identities together
then lowers tr(S_w^-1 S_b), the Fisher criterion LDA maximises, and the gradient reaches S_w itself
(the extractor is pushed to add within-identity variance where it is smallest). Whitened
same-identity pairs sit near sqrt(2 x dim) apart, as Euclidean ones do on the normalised code, so
the margins keep their units (``config.margin_scale``). Not in the paper: a variant of its loss,
measured against it in docs/results.md.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.defences import y_remover

#: Shrinkage of the batch's within-identity covariance towards its mean variance (a 10-d covariance
#: from 8 identities x 8 images has 56 degrees of freedom; shrinkage keeps its inverse tame).
SHRINKAGE = 0.1


def within_identity_whiten(features, identities, shrinkage=SHRINKAGE):
  """``features`` whitened by the batch's (shrunk) within-identity covariance: (n, dim)."""
  f = tf.cast(features, tf.float32)
  _, idx = tf.unique(tf.reshape(identities, [-1]))
  k = tf.reduce_max(idx) + 1
  resid = f - tf.gather(tf.math.unsorted_segment_mean(f, idx, k), idx)
  dof = tf.maximum(tf.cast(tf.shape(f)[0] - k, tf.float32), 1.0)
  sw = tf.matmul(resid, resid, transpose_a=True) / dof
  dim = tf.shape(f)[1]
  mean_var = tf.linalg.trace(sw) / tf.cast(dim, tf.float32)
  sw = (1.0 - shrinkage) * sw + (shrinkage * mean_var + 1e-6) * tf.eye(dim)
  chol = tf.linalg.cholesky(sw)
  return tf.transpose(tf.linalg.triangular_solve(chol, tf.transpose(f), lower=True))


@keras.saving.register_keras_serializable(package="dpfe_tf")
class WhitenedYRemover(y_remover.YRemover):
  """beta x the y-remover's pair loss in the within-identity-whitened metric."""

  def __init__(self, margin=10.0, beta=0.3, groups=1, shrinkage=SHRINKAGE, **kwargs):
    super().__init__(margin=margin, beta=beta, groups=groups, **kwargs)
    self.shrinkage = float(shrinkage)

  def pair_space(self, features, identities):
    return within_identity_whiten(features, identities, self.shrinkage)

  def get_config(self):
    return {**super().get_config(), "shrinkage": self.shrinkage}


def make(beta, margin, num_identities=None, groups=1, feature_dim=None):
  return WhitenedYRemover(margin=margin, beta=beta, groups=groups, name="y_remover")
