"""The reference code's attacker: one Gaussian kernel density per identity (``kde``).

p(f | y = k) is a kernel density on identity k's gallery features (Scott's bandwidth, full
covariance, as ``scipy.stats.gaussian_kde``); with a uniform prior, ranking log p(f | y) ranks
the identities by posterior. Vectorised: each identity costs one whitening and one distance
matrix, evaluated in log space (no underflow to exact ties). The paper's measure, kept for its
figures; stronger attackers sit beside it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf.privacy.attackers import base

LOG_2PI = np.log(2 * np.pi)


@dataclasses.dataclass
class KDEFit:
  """Per-identity kernels: whitening matrices, whitened points and log-normalisers."""
  classes: np.ndarray
  whiten: list          # (d, d) per identity: z = x @ whiten
  points: list          # whitened gallery points per identity
  log_norm: np.ndarray  # -log n_k - 0.5 log det(2 pi cov_k)
  fallback: list        # identities that used the pooled covariance (see fit_kde)


def scott_factor(n: int, d: int) -> float:
  return float(n) ** (-1.0 / (d + 4))


def _cholesky(cov):
  try:
    L = np.linalg.cholesky(cov)
  except np.linalg.LinAlgError:
    return None
  if np.min(np.diag(L)) <= 1e-10 * np.sqrt(np.trace(cov) / len(cov) + 1e-300):
    return None
  return L


def fit_kde(features, identities) -> KDEFit:
  """Fits one Gaussian KDE per identity.

  Documented fallback: an identity whose covariance is singular (no more images than
  dimensions, or degenerate features) uses the pooled within-identity covariance of the
  gallery with its own Scott factor; such identities are listed in ``fallback``. If the
  pooled covariance is singular too, it is an error.
  """
  f = np.asarray(features, np.float64)
  y = np.asarray(identities)
  d = f.shape[1]
  classes = np.unique(y)
  groups = [f[y == c] for c in classes]
  centred = np.concatenate([g - g.mean(0) for g in groups])
  dof = len(f) - len(classes)
  pooled = centred.T @ centred / dof if dof > 0 else None
  whiten, points, log_norm, fallback = [], [], [], []
  for c, g in zip(classes, groups):
    n = len(g)
    L = _cholesky(np.atleast_2d(np.cov(g.T, ddof=1)) * scott_factor(n, d) ** 2) if n > d else None
    if L is None:
      L = _cholesky(pooled * scott_factor(n, d) ** 2) if pooled is not None else None
      if L is None:
        raise ValueError("the features' within-identity covariance is singular (constant or "
                         "linearly dependent features): a kernel density cannot be fitted")
      fallback.append(c.item())
    W = np.linalg.inv(L).T
    whiten.append(W)
    points.append(g @ W)
    log_norm.append(-np.log(n) - np.sum(np.log(np.diag(L))) - 0.5 * d * LOG_2PI)
  return KDEFit(classes, whiten, points, np.array(log_norm), fallback)


def kde_log_density(fit: KDEFit, probes) -> np.ndarray:
  """log p(probe | identity) for every probe and identity: (n_probe, K)."""
  x = np.asarray(probes, np.float64)
  out = np.empty((len(x), len(fit.classes)))
  for k, (W, pts) in enumerate(zip(fit.whiten, fit.points)):
    z = x @ W
    d2 = (z * z).sum(1)[:, None] + (pts * pts).sum(1)[None, :] - 2.0 * z @ pts.T
    e = -0.5 * np.maximum(d2, 0.0)
    m = e.max(1, keepdims=True)
    out[:, k] = (m[:, 0] + np.log(np.exp(e - m).sum(1))) + fit.log_norm[k]
  return out


class KDEAttacker(base.Attacker):
  name = "kde"
  summary = "per-identity Gaussian KDE on the gallery features (the paper's reference attacker)"

  def scores(self, data, gallery, probe):
    fit = fit_kde(data.features[gallery], data.identities[gallery])
    return fit.classes, kde_log_density(fit, data.features[probe]), {"fallback_identities": len(fit.fallback)}
