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
  assert "[1/2] beta 0.01" in out and "[2/2] beta 1" in out and "min left" in out and "val accuracy" in out
  assert "validation identities: Simple accuracy 0.800, log-rank privacy 0.200" in out


def test_paired_standard_error_of_an_accuracy_gap():
  assert search.paired_se([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(np.std([0, -1, 0, -1], ddof=1) / 2)
  rng = np.random.default_rng(0)  # 400 images, two models right 80% of the time independently
  a, b = rng.random(400) < 0.8, rng.random(400) < 0.8
  assert 0.02 < search.paired_se(a, b) < 0.035  # sqrt(2 x 0.16 / 400) = 0.028


def test_identity_folds_are_disjoint_groups_of_people_covering_everyone():
  ids = np.repeat(np.arange(10), 3)
  folds = search.identity_folds(ids, 3, seed=0)
  assert len(folds) == 3 and sum(m.sum() for m in folds) == len(ids)
  people = [set(ids[m]) for m in folds]
  assert set().union(*people) == set(range(10)) and all(not (a & b) for a in people for b in people if a is not b)
  assert [set(ids[m]) for m in search.identity_folds(ids, 3, seed=0)] == people  # seeded
  with pytest.raises(ValueError, match="needs at least 8 training identities"):
    search.identity_folds(np.arange(7), 4, seed=0)
  with pytest.raises(ValueError, match="search_folds must be 0"):
    config.DefenceConfig(search_folds=1)


def test_cross_validated_search_scores_held_out_training_people_only(tiny_faces, tmp_path, cache_dir, monkeypatch,
                                                                    capsys):
  """--search_folds=2: each fold's original MOON, Simple and candidates train on the other fold's people, are scored on the
  fold's (never on validation or test people), every training image is scored once, folders are removed."""
  cfg = config.TrainConfig(output_dir=str(tmp_path / "r"), data=config.DataConfig(tiny_faces, (32, 26)),
                           batch_size=16, images_per_identity=4, epochs_original=1, epochs_simple=1, epochs_defence=1,
                           steps_per_epoch=2, pca_samples=64, min_images=5, verbose=0,
                           defence=config.DefenceConfig(beta="auto", beta_candidates=(0.1, 1.0),
                                                        margin_candidates=(1.0,), search_folds=2))
  trained_on, originals, scored_on = [], [], []
  real_original, real_simple, real_scores = stages.train_original, stages.train_simple, search.validation_scores

  def spy_original(ctx):
    originals.append(set(ctx.splits.train.identities))
    return real_original(ctx)

  def spy_simple(ctx):
    trained_on.append(set(ctx.splits.train.identities))
    return real_simple(ctx)

  def spy_scores(split, held, *args, **kwargs):
    scored_on.append(set(held.identities))
    return real_scores(split, held, *args, **kwargs)

  monkeypatch.setattr(stages, "train_original", spy_original)
  monkeypatch.setattr(stages, "train_simple", spy_simple)
  monkeypatch.setattr(search, "validation_scores", spy_scores)
  stages.run(cfg)
  splits = stages.load_splits(cfg.data)
  train, elsewhere = set(splits.train.identities), set(splits.val.identities) | set(splits.test.identities)
  # one original MOON and one Simple per fold (the run's own are trained through stages.RUNNERS)
  assert len(trained_on) == 2 and originals == trained_on
  assert len(scored_on) == 2 * 3  # per fold: Simple and 2 candidates
  assert all(s <= train and not (s & elsewhere) for s in scored_on)
  for fold_train, held in zip(trained_on, (scored_on[0], scored_on[3])):
    assert not (fold_train & held) and fold_train | held == train
  sel = json.load(open(os.path.join(cfg.output_dir, cfg.variant, "dpfe", "metrics.json")))["defence"]["selection"]
  assert sel["partition"] == "train (2 folds)" and sel["identities"] == len(train)
  assert all(0 <= c["accuracy"] <= 1 and 0 <= c["log_rank_privacy"] <= 1 for c in sel["candidates"])
  assert not [d for d in os.listdir(os.path.join(cfg.output_dir, cfg.variant)) if "search" in d]
  out = capsys.readouterr().out
  assert "2 folds of the" in out and "fold 2/2" in out and "[4/4]" in out and "min left" in out
  assert "CV accuracy" in out and "val accuracy" not in out
