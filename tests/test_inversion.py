import numpy as np
import pytest

from dpfe_tf.privacy import inversion as inversion_lib
from dpfe_tf.privacy.attackers import reconstruction as inversion
from dpfe_tf.models import moon


@pytest.mark.parametrize("size", [(218, 178), (109, 89), (64, 52), (32, 26)])
def test_decoder_output_matches_the_image_size(size):
  assert inversion.build_decoder((10,), size).output_shape == (None, *size, 3)


@pytest.mark.parametrize("layer", moon.PAPER_CUT_LAYERS)
def test_decoder_from_each_cut(layer):
  size = (64, 52)
  d = inversion.build_decoder(moon.cut_shape(layer, size), size, fc_units=64, channels=32)
  x = np.random.default_rng(0).normal(size=(2, *moon.cut_shape(layer, size))).astype("float32")
  out = np.asarray(d(x))
  assert out.shape == (2, *size, 3) and out.min() >= 0 and out.max() <= 1


def _faces(K=10, n=10, seed=0):
  rng = np.random.default_rng(seed)
  colours = rng.uniform(0, 255, (K, 3))
  y = np.repeat(np.arange(K), n)
  imgs = np.clip(colours[y][:, None, None, :] + rng.normal(0, 10, (K * n, 8, 6, 3)), 0, 255)
  return imgs, y


def _embed(imgs):  # identity-sensitive by construction: identity is the colour
  return np.asarray(imgs).mean(axis=(1, 2))


def test_reidentification_near_perfect_for_the_image_itself_and_chance_for_noise():
  imgs, y = _faces()
  perfect = inversion.reidentify_rotated(_embed(imgs), _embed(imgs), y)
  assert perfect.top1_accuracy == 1.0 and perfect.log_rank_privacy == 0.0 and perfect.n_probe == 100
  noise = np.random.default_rng(1).uniform(0, 255, imgs.shape)
  chance = inversion.reidentify_rotated(_embed(noise), _embed(imgs), y)
  assert chance.top1_accuracy < 0.3  # 1/K = 0.1
  assert chance.log_rank_privacy == pytest.approx(chance.random_log_rank, abs=0.12)
  lo, hi = chance.log_rank_interval   # over the 100 probes: contains the mean, a few hundredths wide
  assert lo < chance.log_rank_privacy < hi and 0.02 < hi - lo < 0.3
  assert len(chance.ranks) == 100 and chance.top1_interval[0] <= chance.top1_accuracy <= chance.top1_interval[1]
  assert perfect.log_rank_interval == (0.0, 0.0)


def test_short_training_lowers_the_loss_and_a_diverging_one_is_an_error():
  imgs, _ = _faces(K=8, n=8)
  images = np.repeat(np.repeat(imgs, 4, axis=1), 4, axis=2)[:, :32, :24]  # 32x24
  features = imgs.reshape(len(imgs), -1).astype("float32") / 255.0
  _, history = inversion.train_decoder(features, images, (32, 24), epochs=8, batch_size=16)
  assert history["loss"][-1] < 0.7 * history["loss"][0]
  from dpfe_tf.training.callbacks import TrainingDiverged
  with pytest.raises(TrainingDiverged, match="NaN"):
    inversion.train_decoder(features, images, (32, 24), epochs=3, batch_size=16, lr=1e6)


def test_perceptual_loss_trains_through_a_fixed_network():
  import keras
  imgs, _ = _faces(K=4, n=4)
  images = np.repeat(np.repeat(imgs, 4, axis=1), 4, axis=2)[:, :32, :24]
  inp = keras.Input((32, 24, 3))
  net = keras.Model(inp, keras.layers.Conv2D(4, 3)(keras.layers.Rescaling(1 / 255)(inp)))
  before = [w.copy() for w in net.get_weights()]
  _, history = inversion.train_decoder(imgs.reshape(len(imgs), -1) / 255.0, images, (32, 24), epochs=3,
                                       batch_size=8, perceptual=net)
  assert np.isfinite(history["loss"]).all()
  for a, b in zip(net.get_weights(), before):
    np.testing.assert_array_equal(a, b)  # the feature network stays fixed


def test_psnr_ssim_of_identical_and_noisy_images():
  imgs, _ = _faces(K=2, n=3)
  imgs = np.repeat(np.repeat(imgs, 4, axis=1), 4, axis=2)
  psnr, ssim = inversion.psnr_ssim(imgs, imgs)
  assert ssim == pytest.approx(1.0) and psnr > 100
  noisy = np.clip(imgs + np.random.default_rng(0).normal(0, 25, imgs.shape), 0, 255)
  psnr, ssim = inversion.psnr_ssim(noisy, imgs)
  assert 18 < psnr < 25 and ssim < 0.9


def test_gaps_vs_simple_are_paired_over_the_same_probes():
  def result(source, ranks, variant="v"):
    return {"variant": variant, "layer": "conv7", "source": source,
            "reidentification": {"dlib": {"ranks": ranks, "K": 10}}}
  simple, dpfe = [1, 1, 2, 5], [2, 1, 4, 10]
  gaps = inversion_lib.gaps_vs_simple([result("simple", simple), result("dpfe", dpfe), result("dpfe", dpfe, "w")])
  assert len(gaps) == 1 and gaps[0]["source"] == "dpfe" and gaps[0]["matcher"] == "dlib"  # "w" has no Simple
  expected = np.mean((np.log(dpfe) - np.log(simple)) / np.log(10))
  assert gaps[0]["log_rank_gap"] == pytest.approx(expected)
  lo, hi = gaps[0]["interval"]
  assert lo <= expected <= hi and lo > 0   # every probe ranked no better under DPFE
