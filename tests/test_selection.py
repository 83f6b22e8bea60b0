import json
import math
import os

import numpy as np
import pytest

from dpfe_tf import selection


def C(beta, acc, lrp, rel=1.0):
  return selection.Candidate(beta, rel * math.sqrt(20), rel, acc, lrp)


def test_choose_takes_the_most_private_within_tolerance():
  cands = [C(0.01, 0.90, 0.30), C(0.1, 0.895, 0.36), C(1.0, 0.87, 0.50)]
  best, why = selection.choose(0.90, cands, tolerance=0.01)
  assert best.beta == 0.1 and "within 1.0 points" in why
  assert [c.eligible for c in cands] == [True, True, False]
  best, _ = selection.choose(0.90, cands, tolerance=0.05)
  assert best.beta == 1.0


def test_choose_falls_back_to_the_most_accurate():
  best, why = selection.choose(0.95, [C(0.1, 0.90, 0.3), C(1.0, 0.80, 0.6)], tolerance=0.01)
  assert best.beta == 0.1 and "no candidate" in why


def test_margin_scale_and_reference_margin():
  assert selection.margin_scale(10) == pytest.approx(math.sqrt(20))
  assert selection.DEFAULT_MARGINS_REL[-1] * selection.margin_scale(10) == pytest.approx(10.0)
  with pytest.raises(ValueError):
    selection.candidates_from("0.1,-1")
  assert selection.as_float_or_auto("Auto", "beta") == "auto" and selection.as_float_or_auto("0.3", "beta") == 0.3


def test_search_picks_a_non_default_candidate_when_the_default_does_nothing(tiny_faces, tmp_path, cache_dir,
                                                                           monkeypatch):
  """With validation scores where beta 0.01 changes nothing and beta 1 adds privacy at no cost,
  --beta=auto must pick beta 1 and record why; the scores stand in for real fine-tuning."""
  from dpfe_tf import training
  cfg = training.TrainConfig(output_dir=str(tmp_path / "r"), data_dir=tiny_faces, image_size=(32, 26),
                             batch_size=16, images_per_identity=4, epochs_original=1, epochs_simple=1,
                             epochs_dpfe=1, steps_per_epoch=2, pca_samples=64, beta="auto",
                             beta_candidates=(0.01, 1.0), margin_candidates=(1.0,), search_epochs=1,
                             min_images=5, verbose=0)
  fitted = {}  # id of a candidate's extractor -> its beta
  real_fit = training._fit_dpfe

  def spy_fit(cfg_, data, sampler, beta, margin, stage, epochs):
    model, hist = real_fit(cfg_, data, sampler, beta, margin, stage, epochs)
    fitted[id(model.get_layer("extractor"))] = beta
    return model, hist

  def scores(split, *args, **kwargs):  # Simple and beta 0.01: no change; beta 1: +0.25 LRP, -0.3 points
    acc, lrp = (0.80, 0.20) if fitted.get(id(split.extractor)) in (None, 0.01) else (0.797, 0.45)
    return acc, lrp, np.full(1000, acc)

  monkeypatch.setattr(selection, "validation_scores", scores)
  monkeypatch.setattr(training, "_fit_dpfe", spy_fit)
  training.run(cfg)
  m = json.load(open(os.path.join(cfg.output_dir, "dpfe", "metrics.json")))
  assert m["y_remover"]["beta"] == 1.0
  sel = m["y_remover"]["selection"]
  assert sel["chosen"]["beta"] == 1.0 and sel["partition"] == "val"
  assert [c["beta"] for c in sel["candidates"]] == [0.01, 1.0]
  assert os.path.isfile(os.path.join(cfg.output_dir, "dpfe", "search.png"))
  assert not os.path.exists(os.path.join(cfg.output_dir, "dpfe_search"))
  assert sel["candidates"][1]["accuracy_gap_se"] == pytest.approx(0.0, abs=1e-12)
  assert "within noise" not in sel["why"]


def test_paired_standard_error_of_an_accuracy_gap():
  assert selection.paired_se([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(np.std([0, -1, 0, -1], ddof=1) / 2)
  rng = np.random.default_rng(0)  # 400 images, two models right 80% of the time independently
  a, b = rng.random(400) < 0.8, rng.random(400) < 0.8
  assert 0.02 < selection.paired_se(a, b) < 0.035  # sqrt(2 x 0.16 / 400) = 0.028
