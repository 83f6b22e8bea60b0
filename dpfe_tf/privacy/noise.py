"""Test-time noise on the private feature: f + N(0, r C), C the feature covariance (Procedure 2).

``NOISE_SHAPES``: the paper's ``isotropic`` noise (C the feature's own covariance), or
``predictor``: the same covariance with the directions the cloud predictor reads removed,
C' = P C P with P the projector on the complement of ``predictor_directions`` (not in the
paper). The predictor's logits then barely move while the rest of the feature -- where identity
beyond the attributes sits -- is drowned; the attacker's own features get the same noise, so an
attacker that learns to read only the predictor's directions is measured too.
"""

from __future__ import annotations

import numpy as np

NOISE_SHAPES = ("isotropic", "predictor")


def feature_covariance(features) -> np.ndarray:
  return np.atleast_2d(np.cov(np.asarray(features, np.float64), rowvar=False))


def noise_covariance(features, directions=None) -> np.ndarray:
  """C of the noise r C on ``features``: their covariance, with the orthonormal ``directions``
  (dim, k) removed when given (the ``predictor`` shape; ``without_directions``)."""
  cov = feature_covariance(features)
  return cov if directions is None else without_directions(cov, directions)


def add_noise(features, r: float, cov=None, seed: int = 0) -> np.ndarray:
  """``features`` plus Gaussian noise of covariance ``r * cov`` (default: their own covariance).

  The generator is seeded by (seed, r), so each noise level is reproducible on its own.
  """
  f = np.asarray(features, np.float64)
  if r < 0:
    raise ValueError(f"noise scale r must be >= 0, got {r}")
  if r == 0:
    return f.copy()
  cov = feature_covariance(f) if cov is None else np.asarray(cov, np.float64)
  vals, vecs = np.linalg.eigh(cov)
  root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # root @ root.T == cov
  rng = np.random.default_rng([seed, int(round(r * 1e6))])
  return f + np.sqrt(r) * rng.standard_normal(f.shape) @ root.T


def predictor_directions(predictor, features, k: int | None = None, batch_size: int = 256):
  """(directions, share): the ``k`` feature directions the predictor's logits are most sensitive
  to, (dim, k) orthonormal -- the top eigenvectors of E[J^T J] over ``features``, J the Jacobian
  of the logits (k: one per logit) -- and the share of that gradient energy they hold (near 1: the
  predictor reads little else, so noise elsewhere costs little accuracy).

  Compute it on features of the *training* people (the cloud knows its predictor and its data)."""
  import tensorflow as tf
  f = np.asarray(features, np.float32)
  if f.ndim != 2 or len(f) == 0:
    raise ValueError(f"predictor directions need a non-empty (n, dim) feature array, got shape {f.shape}")
  from dpfe_tf.models import predictor_reading
  second_moment = np.zeros((f.shape[1], f.shape[1]))
  n_logits = None
  for i in range(0, len(f), batch_size):
    _, moment, n_logits = predictor_reading.gradient_moment(predictor, tf.convert_to_tensor(f[i:i + batch_size]))
    second_moment += moment.numpy().astype(np.float64)
  k = n_logits if k is None else int(k)
  if not 1 <= k <= f.shape[1]:
    raise ValueError(f"k must be between 1 and the feature dim {f.shape[1]}, got {k}")
  vals, vecs = np.linalg.eigh(second_moment / len(f))
  vals, vecs = vals[::-1], vecs[:, ::-1]
  share = float(vals[:k].sum() / vals.sum()) if vals.sum() > 0 else 1.0
  return vecs[:, :k].copy(), share


def without_directions(cov, directions) -> np.ndarray:
  """``cov`` with the given orthonormal ``directions`` (dim, k) removed: P cov P, P = I - D D^T."""
  cov = np.asarray(cov, np.float64)
  d = np.asarray(directions, np.float64)
  proj = np.eye(cov.shape[0]) - d @ d.T
  return proj @ cov @ proj
