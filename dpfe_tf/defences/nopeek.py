"""NoPeek (``--defence=nopeek``, Vepakomma et al. 2020): minimise the distance correlation
between the private feature and the identity.

Within each batch (P identities x K images), with a_ij = |f_i - f_j| and b_ij = |e_i - e_j| for
the one-hot identities e, both double-centred (A = a - row means - column means + grand mean),

    dCov^2(f, e) = mean(A * B),   dCor(f, e) = sqrt( dCov^2(f, e) / sqrt(dCov^2(f, f) dCov^2(e, e)) )

(the V-statistic of Szekely et al., as ``dcor.distance_correlation``). It is 0 when the feature
is independent of the identity; the defence adds beta x dCor to the attribute loss.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.defences import base

_EPS = 1e-9


def _centred_distances(d2):
  n = tf.cast(tf.shape(d2)[0], tf.float32)
  eye = tf.eye(tf.shape(d2)[0])
  d = tf.sqrt(tf.maximum(d2, _EPS)) * (1.0 - eye)  # zero diagonal, finite gradient everywhere
  row = tf.reduce_sum(d, 1, keepdims=True) / n
  col = tf.reduce_sum(d, 0, keepdims=True) / n
  return d - row - col + tf.reduce_sum(d) / (n * n)


def _dcor_from_sq_distances(dx2, dy2):
  a, b = _centred_distances(dx2), _centred_distances(dy2)
  xy, xx, yy = tf.reduce_mean(a * b), tf.reduce_mean(a * a), tf.reduce_mean(b * b)
  return tf.sqrt(tf.maximum(tf.math.divide_no_nan(xy, tf.sqrt(xx * yy)), 0.0) + _EPS)


def distance_correlation(x, y):
  """dCor of two batches of vectors (rows paired), as ``dcor.distance_correlation``."""
  return _dcor_from_sq_distances(base.pairwise_sq_distances(x), base.pairwise_sq_distances(y))


def identity_distance_correlation(features, identities):
  """dCor of the features and the one-hot identities (one-hots are sqrt(2) apart or equal)."""
  y = tf.reshape(identities, [-1])
  same = tf.cast(tf.equal(y[:, None], y[None, :]), tf.float32)
  return (_dcor_from_sq_distances(base.pairwise_sq_distances(features), 2.0 * (1.0 - same)),)


@keras.saving.register_keras_serializable(package="dpfe_tf")
class NoPeek(base.Defence):
  metric_names = ("distance_correlation",)

  def call(self, features, identities, labels=None):
    (dcor,) = base.per_group(identity_distance_correlation, self.groups, features, identities)
    return self.beta * dcor, self.beta * dcor, {"distance_correlation": dcor}


def make(beta, margin=None, num_identities=None, groups=1, feature_dim=None):
  return NoPeek(beta=beta, groups=groups, name="nopeek")
