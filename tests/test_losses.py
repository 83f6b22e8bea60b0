import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from dpfe_tf import losses


def numpy_pair_loss(f, y, margin):
  terms = []
  for i, j in itertools.combinations(range(len(f)), 2):
    d = np.linalg.norm(f[i] - f[j])
    terms.append(max(margin - d, 0.0) ** 2 if y[i] == y[j] else d ** 2)
  return float(np.mean(terms))


@pytest.mark.parametrize("seed,margin", [(0, 10.0), (1, 2.0), (2, 0.5)])
def test_pair_loss_matches_numpy_formula(seed, margin):
  rng = np.random.default_rng(seed)
  f = rng.normal(size=(24, 10)).astype(np.float32)
  y = rng.integers(0, 5, 24)
  got = float(losses.y_remover_loss(f, y, margin))
  assert got == pytest.approx(numpy_pair_loss(f, y, margin), rel=1e-4)


def test_pair_loss_directions():
  # Same identity far apart beyond the margin: no loss; different identities: squared distance.
  f = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
  assert float(losses.y_remover_loss(f, [1, 1], margin=5.0)) == pytest.approx(0.0, abs=1e-5)
  assert float(losses.y_remover_loss(f, [1, 1], margin=7.0)) == pytest.approx(4.0, rel=1e-4)
  assert float(losses.y_remover_loss(f, [1, 2], margin=7.0)) == pytest.approx(25.0, rel=1e-4)


def test_gradient_finite_at_zero_distance():
  f = tf.Variable(np.ones((4, 3), np.float32))
  with tf.GradientTape() as tape:
    loss = losses.y_remover_loss(f, tf.constant([0, 0, 1, 1]), 10.0)
  assert np.isfinite(tape.gradient(loss, f).numpy()).all()


def _model(beta=0.5, margin=3.0):
  image = keras.Input((4,), name="image")
  identity = keras.Input((), dtype="int32", name="identity")
  f = keras.layers.Dense(3, name="enc")(image)
  f = losses.YRemover(margin=margin, beta=beta, name="y_remover")([f, identity])
  return keras.Model({"image": image, "identity": identity}, keras.layers.Dense(1, name="out")(f))


def test_layer_adds_weighted_loss_only_in_training():
  m = _model(beta=0.5, margin=3.0)
  x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
  ids = np.array([0, 0, 1, 1, 2, 2, 3, 3])
  m({"image": x, "identity": ids}, training=False)
  assert not m.losses
  m({"image": x, "identity": ids}, training=True)
  f = m.get_layer("enc")(x).numpy()
  assert float(m.losses[0]) == pytest.approx(0.5 * numpy_pair_loss(f, ids, 3.0), rel=1e-4)


def test_save_and_load_in_safe_mode(tmp_path):
  m = _model(beta=0.25, margin=4.0)
  path = str(tmp_path / "m.keras")
  m.save(path)
  back = keras.saving.load_model(path, safe_mode=True)
  layer = back.get_layer("y_remover")
  assert isinstance(layer, losses.YRemover) and (layer.beta, layer.margin) == (0.25, 4.0)
  x = {"image": np.ones((2, 4), np.float32), "identity": np.array([0, 1])}
  np.testing.assert_allclose(back(x), m(x), rtol=1e-6)


def test_grouped_loss_is_the_mean_of_the_slices_losses():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(12, 3)).astype(np.float32)
  y = np.repeat(np.arange(6), 2).astype(np.int32)
  loss, same = losses.grouped_loss_and_same_fraction(f, y, 3, margin=2.0)
  per = [losses.loss_and_same_fraction(f[i:i + 4], y[i:i + 4], 2.0) for i in (0, 4, 8)]
  assert float(loss) == pytest.approx(np.mean([float(p[0]) for p in per]), rel=1e-6)
  assert float(same) == pytest.approx(1 / 3)                     # 2 of the 6 pairs of each slice
  whole = float(losses.y_remover_loss(f, y, 2.0))
  assert abs(whole - float(loss)) > 1e-3                         # cross-slice pairs really left out
  layer = losses.YRemover(margin=2.0, beta=1.0, groups=3)
  layer([f, y], training=True)
  assert float(layer.losses[0]) == pytest.approx(float(loss), rel=1e-6)
  assert losses.YRemover.from_config(layer.get_config()).groups == 3
