"""Dimensionality reduction: a linear auto-encoder on the cut, initialised with PCA.

encoder: code = (x - mean) @ W          (W: D x dim, the top principal directions)
code_bn: batch norm without affine, its moving statistics set to mean 0 and variance
         lambda (the PCA eigenvalues), so at initialisation it whitens the code
decoder: x_hat = code_bn @ (sqrt(lambda) * W^T) + mean

At initialisation the reconstruction is exactly the PCA reconstruction of x (up to the
batch norm's epsilon); fine-tuning then moves all three.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf.models import moon


@dataclasses.dataclass
class PCA:
  mean: np.ndarray        # (D,)
  components: np.ndarray  # (D, dim), orthonormal columns, by decreasing variance
  variances: np.ndarray   # (dim,), eigenvalues of the sample covariance

  @property
  def dim(self):
    return self.components.shape[1]

  def project(self, x):
    return (np.asarray(x, np.float64) - self.mean) @ self.components

  def reconstruct(self, code):
    return code @ self.components.T + self.mean


def fit_pca(x, dim: int, seed: int = 0, method: str = "auto", oversample: int = 20,
            power_iters: int = 6) -> PCA:
  """Top-``dim`` PCA of the rows of ``x`` (N x D).

  ``method``: "exact" (thin SVD, O(N D min(N, D))), "randomized" (a randomised range
  finder with power iterations, O(N D dim), for cuts of tens of thousands of dimensions)
  or "auto" (exact when that costs under ~2e10 flops). Each component's sign is fixed so
  that its largest-magnitude coordinate is positive.
  """
  x = np.asarray(x, np.float64)
  n, d = x.shape
  if n < 2:
    raise ValueError(f"PCA needs at least 2 samples, got {n}")
  if dim > min(n - 1, d):
    raise ValueError(f"feature dim {dim} exceeds what {n} samples of dimension {d} support")
  if method == "auto":
    method = "exact" if n * d * min(n, d) <= 2e10 else "randomized"
  mean = x.mean(axis=0)
  xc = x - mean
  if method == "exact":
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
  elif method == "randomized":
    k = min(dim + oversample, min(n, d))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(xc @ rng.standard_normal((d, k)))
    for _ in range(power_iters):
      q, _ = np.linalg.qr(xc.T @ q)
      q, _ = np.linalg.qr(xc @ q)
    _, s, vt = np.linalg.svd(q.T @ xc, full_matrices=False)
  else:
    raise ValueError(f"unknown PCA method {method!r}")
  comps = vt[:dim].T
  signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(dim)])
  comps = comps * np.where(signs == 0, 1.0, signs)
  return PCA(mean=mean, components=comps, variances=(s[:dim] ** 2) / (n - 1))


def add_encoder(x, K, dim: int):
  """cut (B,H,W,C) -> flatten -> encoder -> code_bn: the private feature."""
  x = K.layers.Flatten(name="cut_flatten")(x)
  x = K.layers.Dense(dim, name="encoder")(x)
  return K.layers.BatchNormalization(center=False, scale=False, epsilon=moon.BN_EPSILON,
                                     momentum=moon.BN_MOMENTUM, name="code_bn")(x)


def add_decoder(code, K, cut_shape):
  x = K.layers.Dense(int(np.prod(cut_shape)), name="decoder")(code)
  return K.layers.Reshape(tuple(cut_shape), name="decoder_reshape")(x)


def init_from_pca(model, pca: PCA):
  """Sets encoder, code_bn and decoder of ``model`` (or its sub-models) from ``pca``."""
  layers = {l.name: l for l in moon._all_layers(model)}
  w = pca.components.astype(np.float32)
  mean = pca.mean.astype(np.float32)
  var = np.maximum(pca.variances, 1e-12).astype(np.float32)
  values = {"encoder": [w, -(mean @ w)],
            "code_bn": [np.zeros_like(var), var],
            "decoder": [np.sqrt(var)[:, None] * w.T, mean]}
  found = [n for n in values if n in layers]
  if not found:
    raise ValueError(f"model {model.name!r} has no bottleneck layer")
  for n in found:
    layers[n].set_weights(values[n])
