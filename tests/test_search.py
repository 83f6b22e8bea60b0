import json
import math
import os

import numpy as np
import pytest

from dpfe_tf import config
from dpfe_tf.training import search, stages


def C(beta, acc, lrp, rel=1.0):
  return search.Candidate(beta, rel * math.sqrt(20), rel, acc, lrp)


def test_choose_takes_the_most_private_within_tolerance():
  cands = [C(0.01, 0.90, 0.30), C(0.1, 0.895, 0.36), C(1.0, 0.87, 0.50)]
  best, why = search.choose(0.90, cands, tolerance=0.01)
  assert best.beta == 0.1 and "within 1.0 points" in why
  assert [c.eligible for c in cands] == [True, True, False]
  best, _ = search.choose(0.90, cands, tolerance=0.05)
  assert best.beta == 1.0


def test_choose_falls_back_to_the_most_accurate():
  best, why = search.choose(0.95, [C(0.1, 0.90, 0.3), C(1.0, 0.80, 0.6)], tolerance=0.01)
  assert best.beta == 0.1 and "no candidate" in why


def test_margins_are_relative_to_the_code_scale_and_the_reference_preset_is_the_papers():
  d = config.DefenceConfig(margin="auto")
  betas, margins = d.candidates(10)
  assert betas == (0.3,) and margins[0] == pytest.approx(math.sqrt(20))
  assert margins[-1] == pytest.approx(10.0)  # sqrt(5) x sqrt(20): the reference margin
  assert config.DefenceConfig(preset="reference").resolved(10) == {"beta": 0.01, "margin": 10.0}
  assert config.DefenceConfig().resolved(10) == {"beta": 0.3, "margin": pytest.approx(10.0)}
  assert config.DefenceConfig(name="nopeek", beta="auto").candidates(10)[1] == (None,)
  with pytest.raises(ValueError, match="margin applies to the dpfe defence only"):
    config.DefenceConfig(name="adversarial", margin=3)
  with pytest.raises(ValueError, match="beta_candidates must be positive"):
    config.DefenceConfig(beta_candidates=(0.1, -1))


def test_search_picks_a_non_default_candidate_when_the_default_does_nothing(tiny_faces, tmp_path, cache_dir,
                                                                           monkeypatch, capsys):
  """With validation scores where beta 0.01 changes nothing and beta 1 adds privacy at no cost,
  --beta=auto must pick beta 1, say so per candidate as it goes, and record why."""
  cfg = config.TrainConfig(output_dir=str(tmp_path / "r"), data=config.DataConfig(tiny_faces, (32, 26)),
                           batch_size=16, images_per_identity=4, epochs_original=1, epochs_simple=1, epochs_defence=1,
                           steps_per_epoch=2, pca_samples=64, min_images=5, verbose=0,
                           defence=config.DefenceConfig(beta="auto", beta_candidates=(0.01, 1.0),
                                                        margin_candidates=(1.0,)))
  fitted = {}  # id of a candidate's extractor -> its beta
  real_fit = stages.fit_defence

  def spy_fit(ctx, stage, sampler, *, beta, margin, epochs, quiet=False):
    model, hist = real_fit(ctx, stage, sampler, beta=beta, margin=margin, epochs=epochs, quiet=quiet)
    fitted[id(model.extractor)] = beta
    return model, hist

  def scores(split, *args, **kwargs):  # Simple and beta 0.01: no change; beta 1: +0.25 LRP, -0.3 points
    acc, lrp = (0.80, 0.20) if fitted.get(id(split.extractor)) in (None, 0.01) else (0.797, 0.45)
    return acc, lrp, "lda", np.full(1000, acc)

  monkeypatch.setattr(search, "validation_scores", scores)
  monkeypatch.setattr(stages, "fit_defence", spy_fit)
  stages.run(cfg)
  variant = os.path.join(cfg.output_dir, cfg.variant)
  m = json.load(open(os.path.join(variant, "dpfe", "metrics.json")))
  assert m["defence"]["beta"] == 1.0
  sel = m["defence"]["selection"]
  assert sel["chosen"]["beta"] == 1.0 and sel["partition"] == "val"
  assert [c["beta"] for c in sel["candidates"]] == [0.01, 1.0]
  assert os.path.isfile(os.path.join(variant, "dpfe", "search.png"))
  assert not [d for d in os.listdir(variant) if "search-" in d]  # candidates' folders cleaned up
  assert sel["candidates"][1]["accuracy_gap_se"] == pytest.approx(0.0, abs=1e-12)
  out = capsys.readouterr().out
  assert "[1/2] beta 0.01" in out and "[2/2] beta 1" in out and "min left" in out


def test_paired_standard_error_of_an_accuracy_gap():
  assert search.paired_se([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(np.std([0, -1, 0, -1], ddof=1) / 2)
  rng = np.random.default_rng(0)  # 400 images, two models right 80% of the time independently
  a, b = rng.random(400) < 0.8, rng.random(400) < 0.8
  assert 0.02 < search.paired_se(a, b) < 0.035  # sqrt(2 x 0.16 / 400) = 0.028
