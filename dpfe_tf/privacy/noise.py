"""Test-time noise on the private feature: f + N(0, r C), C the feature covariance (Procedure 2)."""

from __future__ import annotations

import numpy as np


def feature_covariance(features) -> np.ndarray:
  return np.atleast_2d(np.cov(np.asarray(features, np.float64), rowvar=False))


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
