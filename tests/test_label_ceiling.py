"""The labels-only reference: the true labels give the analytic log-rank privacy of knowing the
labels, labels flipped at random are more private, coin flips are as private as a random guess."""

import math
import os

import numpy as np
import pytest

from dpfe_tf.privacy import label_ceiling as lc

IDS = np.repeat(np.arange(20), 20)             # 20 evaluated people, 20 images each
LABELS = (IDS < 10).astype(int)[:, None]       # half of them have the attribute
PUBLIC = np.repeat(np.arange(100, 140), 10)
PUBLIC_LABELS = (PUBLIC < 120).astype(int)[:, None]


def _lrp(accuracy, seeds=4):
  return lc.ceiling(LABELS, IDS, PUBLIC_LABELS, PUBLIC, accuracy=accuracy, seeds=seeds, min_images=10,
                    attackers=("lda", "kde"), n_boot=200)


def test_true_labels_rank_the_person_at_random_among_those_sharing_the_labels():
  r = _lrp(1.0)
  analytic = math.lgamma(11) / 10 / math.log(20)  # E[log rank] for a rank uniform in 1..10, over log K
  assert r.K == 20 and r.n_probe == 4 * 400
  assert abs(r.log_rank_privacy - analytic) < 0.025
  assert r.interval[0] <= r.log_rank_privacy <= r.interval[1]
  assert r.log_rank_privacy == min(r.per_attacker.values())


def test_flipped_labels_are_more_private_and_coin_flips_are_a_random_guess():
  exact, noisy, coin = _lrp(1.0), _lrp(0.85), _lrp(0.5)
  assert noisy.log_rank_privacy > exact.log_rank_privacy + 0.03
  assert abs(coin.log_rank_privacy - coin.random_log_rank) < 0.025


def test_label_feature_flips_the_stated_fraction_and_refuses_a_bad_accuracy():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, (5000, 2))
  f = lc.label_feature(y, 0.8, rng)
  assert f.shape == (5000, 2) and abs(np.mean(np.round(f) != y) - 0.2) < 0.02
  assert np.abs(lc.label_feature(y, 1.0, rng) - y).max() < 0.01
  with pytest.raises(ValueError, match="accuracy must be in"):
    lc.label_feature(y, 1.5, rng)


def test_a_variant_without_an_evaluation_is_one_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="has no evaluation.*dpfe_tf.evaluate"):
    lc.for_variant(str(tmp_path))


def _fake_variant(tmp_path, data_dir, K):
  from dpfe_tf import config, io_utils, run_dir
  variant = tmp_path / "conv7-G"
  cfg = config.TrainConfig(output_dir=str(tmp_path), data=config.DataConfig(data_dir, (32, 26)), attributes="G")
  run_dir.Variant(str(variant)).stage("simple").write_config({}, cfg, "done")
  point = lambda acc, lrp: {"accuracy": acc, "worst": {"log_rank_privacy": lrp, "attacker": "lda"},  # noqa: E731
                            "privacy": {"lda": {"K": K}}, "interval_95": {"log_rank_privacy": [lrp - 0.01, lrp + 0.01]}}
  io_utils.write_json(str(variant / "attacks" / "evaluation.json"), {
      "data_dir": data_dir, "split": "test", "seeds": 1,
      "curves": [{"name": "simple", "points": [point(0.9, 0.3), point(0.7, 0.5)]},
                 {"name": "dpfe", "points": [point(0.88, 0.4), point(0.7, 0.6)]}]})
  return str(variant)


def test_a_variant_gets_references_beside_its_measured_models_and_the_target(tiny_faces, tmp_path, cache_dir):
  variant = _fake_variant(tmp_path, tiny_faces, K=4)  # the tiny test partition: 4 people of 10 images
  r = lc.for_variant(variant, frontier=(0.6, 1.0), min_images=5, log=lambda m: None)
  true, at_simple, at_dpfe, simple, dpfe, target = r.rows
  assert true.accuracy == 1.0 and true.K == 4 and at_simple.accuracy == 0.9 and at_dpfe.accuracy == 0.88
  assert (simple.log_rank_privacy, dpfe.log_rank_privacy, simple.interval) == (0.3, 0.4, [0.29, 0.31])
  assert target.log_rank_privacy == pytest.approx(0.45)
  text = lc.markdown(r.rows)
  assert "| 90.0% | 0.300 [0.290, 0.310] | lda |" in text and "| target: Simple + 0.15 | 90.0% | 0.450 |  |" in text
  assert [f.accuracy for f in r.frontier] == [0.6, 1.0] and r.frontier[1] is true
  assert r.curves["dpfe"] == [(0.88, 0.4), (0.7, 0.6)] and "K = 4; 1 seed" in r.setting
  from dpfe_tf import plots
  plots.label_frontier(r, str(tmp_path / "frontier.png"))
  assert os.path.getsize(tmp_path / "frontier.png") > 10_000
  with pytest.raises(ValueError, match="K = 7 people, the references among 4.*--min_images"):
    lc.for_variant(_fake_variant(tmp_path / "other", tiny_faces, K=7), min_images=5, log=lambda m: None)
