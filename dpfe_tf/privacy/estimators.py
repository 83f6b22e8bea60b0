"""Estimates of p(y | f): how an attacker scores each identity for a feature.

Both return a score matrix S (n_probe x K) with S[i, k] = log p(f_i | y = k) + const
(uniform prior), so ranking a row ranks the identities by posterior.

- ``kde_scores``: the reference code's estimator, one Gaussian kernel density per identity
  (Scott's bandwidth, full covariance, as ``scipy.stats.gaussian_kde``) fitted on that
  identity's gallery features. Vectorised: each identity costs one whitening and one
  distance matrix, evaluated in log space (no underflow to exact ties).
- ``classifier_scores``: not a density at all: a small neural classifier trained on the
  gallery features. The report takes the worse of the two for the defender.
"""

from __future__ import annotations

import dataclasses

import numpy as np

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


def kde_scores(gallery_f, gallery_y, probe_f):
  fit = fit_kde(gallery_f, gallery_y)
  return fit.classes, kde_log_density(fit, probe_f), {"fallback_identities": len(fit.fallback)}


_TRAIN_MLP = None


def _mlp_trainer():
  """One compiled training loop (minibatch Adam, while_loop) traced once for every shape."""
  global _TRAIN_MLP
  if _TRAIN_MLP is not None:
    return _TRAIN_MLP
  import tensorflow as tf
  f32 = tf.float32
  spec = [tf.TensorSpec([None, None], f32), tf.TensorSpec([None], tf.int32),
          tf.TensorSpec([None, None], f32), tf.TensorSpec([None], f32),
          tf.TensorSpec([None, None], f32), tf.TensorSpec([None], f32),
          tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=spec)
  def train(x, y, w1, b1, w2, b2, steps, batch, seed):
    lr, l2, b_1, b_2, eps = 3e-3, 1e-4, 0.9, 0.999, 1e-7
    params = (w1, b1, w2, b2)
    zeros = tuple(tf.zeros_like(p) for p in params)
    n = tf.shape(x)[0]

    def body(t, p, m, v):
      idx = tf.random.stateless_uniform([batch], seed + tf.stack([t, 0]), 0, n, dtype=tf.int32)
      xb, yb = tf.gather(x, idx), tf.gather(y, idx)
      with tf.GradientTape() as tape:
        tape.watch(p)
        logits = tf.nn.relu(xb @ p[0] + p[1]) @ p[2] + p[3]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits)) + \
            l2 * (tf.reduce_sum(p[0] ** 2) + tf.reduce_sum(p[2] ** 2))
      g = tape.gradient(loss, p)
      m = tuple(b_1 * mi + (1 - b_1) * gi for mi, gi in zip(m, g))
      v = tuple(b_2 * vi + (1 - b_2) * gi * gi for vi, gi in zip(v, g))
      tf_ = tf.cast(t + 1, f32)
      step = lr * tf.sqrt(1 - b_2 ** tf_) / (1 - b_1 ** tf_)
      p = tuple(pi - step * mi / (tf.sqrt(vi) + eps) for pi, mi, vi in zip(p, m, v))
      return t + 1, p, m, v

    _, params, _, _ = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), params, zeros, zeros))
    return params

  _TRAIN_MLP = train
  return train


def classifier_scores(gallery_f, gallery_y, probe_f, seed: int = 0, hidden: int = 128,
                      steps: int = 600, batch_size: int = 512):
  """log-softmax of a one-hidden-layer classifier (minibatch Adam) trained on the standardised gallery."""
  g = np.asarray(gallery_f, np.float32)
  mu, sd = g.mean(0), g.std(0) + 1e-6
  classes, y = np.unique(np.asarray(gallery_y), return_inverse=True)
  rng = np.random.default_rng(seed)
  d, K = g.shape[1], len(classes)
  init = [rng.normal(0, np.sqrt(2.0 / d), (d, hidden)), np.zeros(hidden),
          rng.normal(0, np.sqrt(1.0 / hidden), (hidden, K)), np.zeros(K)]
  w1, b1, w2, b2 = (v.numpy() for v in _mlp_trainer()(
      (g - mu) / sd, y.astype(np.int32), *(np.asarray(v, np.float32) for v in init),
      np.int32(steps), np.int32(min(batch_size, len(g))), np.array([seed, 1], np.int32)))
  x = (np.asarray(probe_f, np.float64) - mu) / sd
  logits = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
  m = logits.max(1, keepdims=True)
  return classes, logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True)), {}


ESTIMATORS = {"kde": kde_scores, "classifier": classifier_scores}
