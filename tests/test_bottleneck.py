import numpy as np
import pytest

from dpfe_tf.models import bottleneck, moon, separation


def numpy_pca(x, dim):
  mean = x.mean(0)
  _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
  return mean, vt[:dim].T, s[:dim] ** 2 / (len(x) - 1)


def _data(n=300, d=120, seed=0):
  rng = np.random.default_rng(seed)
  scales = np.geomspace(10, 0.1, d)
  return rng.normal(size=(n, d)) * scales @ np.linalg.qr(rng.normal(size=(d, d)))[0] + 5.0


def test_pca_matches_numpy_svd():
  x = _data()
  pca = bottleneck.fit_pca(x, 10)
  mean, comps, var = numpy_pca(x, 10)
  np.testing.assert_allclose(pca.mean, mean, rtol=1e-10)
  np.testing.assert_allclose(pca.variances, var, rtol=1e-6)
  # Components agree up to sign: compare the projections.
  np.testing.assert_allclose(np.abs(pca.project(x)), np.abs((x - mean) @ comps), rtol=1e-5, atol=1e-6)


def test_randomized_pca_agrees_on_a_decaying_spectrum():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(400, 3000)) * (10.0 / (1 + np.arange(3000)) ** 0.8)  # power-law spectrum
  exact = bottleneck.fit_pca(x, 10, method="exact")
  fast = bottleneck.fit_pca(x, 10, method="randomized")
  np.testing.assert_allclose(fast.variances, exact.variances, rtol=1e-3)
  np.testing.assert_allclose(np.abs(fast.components.T @ exact.components), np.eye(10), atol=2e-2)


def test_pca_rejects_too_few_samples():
  with pytest.raises(ValueError, match="feature dim"):
    bottleneck.fit_pca(np.ones((5, 50)), 10)


def test_keras_bottleneck_reproduces_pca_projection_and_reconstruction():
  """The initialised encoder computes the PCA projection; the decoder its reconstruction."""
  layer, size = "conv6_1", (32, 26)
  split = separation.build_split(layer, size, dim=6, num_outputs=2)
  shape = moon.cut_shape(layer, size)
  x = (_data(n=200, d=int(np.prod(shape)), seed=1)).astype(np.float32)
  pca = bottleneck.fit_pca(x, 6)
  bottleneck.init_from_pca(split.extractor, pca)
  bottleneck.init_from_pca(split.predictor, pca)
  enc = split.extractor.get_layer("encoder")
  code = enc(x).numpy()
  np.testing.assert_allclose(code, pca.project(x), rtol=1e-3, atol=1e-3 * np.abs(code).max())
  whitened = split.extractor.get_layer("code_bn")(code, training=False).numpy()
  np.testing.assert_allclose(whitened.std(0), 1.0, rtol=0.05)
  recon = split.predictor.get_layer("decoder")(whitened).numpy()
  expect = pca.reconstruct(pca.project(x))
  np.testing.assert_allclose(recon, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())
