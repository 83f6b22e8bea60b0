"""A Gaussian classifier with one shared covariance (``lda``): a simple, strong attacker.

p(f | y = k) = N(f; mu_k, S): the means mu_k from identity k's gallery features, the shared
within-identity covariance S pooled over the gallery and, when the attacker has it, the public
data of other people pushed through the extractor (with the same noise), which estimates S far
better than a few gallery images per person can. A throwaway 10-fold check on held-out CelebA
people found it stronger than the reference KDE and than MLP classifiers of two sizes.
"""

from __future__ import annotations

import numpy as np

from dpfe_tf.privacy.attackers import base


def within_scatter(features, identities):
  """(sum of outer products of the features centred on their identity's mean, degrees of freedom)."""
  f = np.asarray(features, np.float64)
  y = np.asarray(identities)
  classes, inverse = np.unique(y, return_inverse=True)
  means = np.zeros((len(classes), f.shape[1]))
  np.add.at(means, inverse, f)
  means /= np.bincount(inverse)[:, None]
  centred = f - means[inverse]
  return centred.T @ centred, len(f) - len(classes)


class LDAAttacker(base.Attacker):
  name = "lda"
  summary = "Gaussian classifier with a shared covariance (gallery means, covariance pooled with public data)"

  def __init__(self):
    self._public = None

  def prepare(self, data, folds):
    self._public = (within_scatter(data.public_features, data.public_identities)
                    if data.public_features is not None else None)

  def scores(self, data, gallery, probe):
    g, gy = np.asarray(data.features[gallery], np.float64), np.asarray(data.identities[gallery])
    classes, inverse = np.unique(gy, return_inverse=True)
    means = np.zeros((len(classes), g.shape[1]))
    np.add.at(means, inverse, g)
    means /= np.bincount(inverse)[:, None]
    scatter, dof = within_scatter(g, gy)
    if self._public is not None:
      scatter, dof = scatter + self._public[0], dof + self._public[1]
    if dof <= 0:
      raise ValueError("lda: no within-identity variation to estimate a covariance from")
    cov = scatter / dof
    cov += np.eye(len(cov)) * 1e-6 * max(np.trace(cov) / len(cov), 1e-12)
    L = np.linalg.cholesky(cov)
    w = np.linalg.solve(L, np.asarray(data.features[probe], np.float64).T).T
    m = np.linalg.solve(L, means.T).T
    return classes, -0.5 * base.sq_distances(w, m), {"public_covariance": self._public is not None}
