"""Choosing the operating noise without the evaluated people (dpfe_tf.training.operating_point)."""

import json
import os

import keras
import numpy as np
import pytest

from dpfe_tf import config
from dpfe_tf.data import celeba
from dpfe_tf.models import separation
from dpfe_tf.training import operating_point, stages

from helpers import run_module


def test_choose_takes_the_largest_noise_within_tolerance():
  acc = {0.0: 0.90, 1.0: 0.88, 2.0: 0.875, 4.0: 0.87, 8.0: 0.86}
  r, why = operating_point.choose(0.88, acc, tolerance=0.01)
  assert r == 4.0 and "87.0%" in why and "within 1 point of" in why
  assert operating_point.choose(0.88, acc, tolerance=0.02)[0] == 8.0
  r, why = operating_point.choose(0.95, acc, tolerance=0.01)  # noise 0 itself is never an operating noise
  assert r is None and why.startswith("no noise level kept")
  assert operating_point.choose(0.88, {0.0: 0.9, 2.0: 0.85, 4.0: 0.88}, tolerance=0.01)[0] == 4.0  # not the first drop


def _faces(n, seed):
  """1x1-pixel "faces": the 3 channels are the feature; Male is the first channel above its middle."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, 1, 1, 3), dtype=np.uint8)
  attributes = np.zeros((n, 40), np.float32)
  attributes[:, 20] = images[:, 0, 0, 0] > 127.5          # attribute 20 is Male
  return celeba.FaceData(images, attributes, np.arange(n) % 10, [f"{i}.jpg" for i in range(n)])


def test_shaped_noise_spares_the_direction_the_predictor_reads():
  """A predictor reading only channel 0: isotropic noise costs accuracy, the predictor-shaped
  noise none; each image's fraction right is averaged over the draws."""
  inp = keras.Input((1, 1, 3))
  extractor = keras.Model(inp, keras.layers.Flatten()(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inp)))
  f = keras.Input((3,))
  dense = keras.layers.Dense(1)
  predictor = keras.Model(f, dense(f))
  dense.set_weights([np.array([[5.0], [0], [0]], np.float32), np.zeros(1, np.float32)])
  split = separation.SplitModel(extractor, predictor)
  held, seen = _faces(400, 0), _faces(300, 1)
  grid = (0.0, 4.0, 16.0)
  iso = operating_point.accuracy_under_noise(split, held, seen, ("Male",), grid=grid, shape="isotropic", draws=3)
  shaped = operating_point.accuracy_under_noise(split, held, seen, ("Male",), grid=grid, shape="predictor", draws=3)
  assert iso[0.0].mean() == 1.0 and shaped[0.0].mean() == 1.0
  assert iso[16.0].mean() < 0.75 and shaped[16.0].mean() > 0.99
  assert len(np.unique(iso[16.0])) > 2   # averaged over 3 draws: 0, 1/3, 2/3, 1


# The tests of this file stay on one pytest-xdist worker, so its tiny_run fixture is built once.
pytestmark = pytest.mark.xdist_group("test_operating_point")


@pytest.fixture(scope="module")
def tiny_run(tiny_faces, tmp_path_factory):
  cache = str(tmp_path_factory.mktemp("cache"))
  cfg = config.TrainConfig(output_dir=str(tmp_path_factory.mktemp("run") / "r"),
                           data=config.DataConfig(tiny_faces, (32, 26)), batch_size=16, images_per_identity=4,
                           epochs_original=1, epochs_simple=1, epochs_defence=1, steps_per_epoch=2, pca_samples=64,
                           min_images=5, verbose=0, defence=config.DefenceConfig(beta=0.5))
  with pytest.MonkeyPatch.context() as env:
    env.setenv("DPFE_TF_CACHE", cache)
    stages.run(cfg)
    yield cfg, cache


def test_folds_score_held_out_training_people_with_the_runs_recipe(tiny_run, monkeypatch, capsys):
  """--folds=2: each fold trains its original MOON, Simple and the defended model (the run's weight) on
  the other fold's people and is scored on its own; every training image is scored once, never a
  validation or test person; the fold folders are removed; progress is printed."""
  cfg, _ = tiny_run
  model_dir = os.path.join(cfg.output_dir, cfg.variant, "dpfe")
  trained_on, scored_on, betas = [], [], []
  real_defence, real_accuracy = stages.train_defence, operating_point.accuracy_under_noise

  def spy_defence(ctx):
    trained_on.append(set(ctx.splits.train.identities))
    betas.append(ctx.cfg.defence.beta)
    return real_defence(ctx)

  def spy_accuracy(split, held, *args, **kwargs):
    scored_on.append(set(held.identities))
    return real_accuracy(split, held, *args, **kwargs)

  monkeypatch.setattr(stages, "train_defence", spy_defence)
  monkeypatch.setattr(operating_point, "accuracy_under_noise", spy_accuracy)
  point = operating_point.run(config.OperatingPointConfig(model_dir=model_dir, folds=2, noise_grid=(0, 1, 8)))
  splits = stages.load_splits(cfg.data)
  train, elsewhere = set(splits.train.identities), set(splits.val.identities) | set(splits.test.identities)
  assert len(trained_on) == 2 and betas == [0.5, 0.5]
  assert len(scored_on) == 4    # per fold: Simple and the defended model
  for fold_train, held in zip(trained_on, (scored_on[0], scored_on[2])):
    assert not (fold_train & held) and fold_train | held == train and not (held & elsewhere)
  assert point.images == len(splits.train) and point.identities == len(train)
  assert point.partition == "train (2 folds)" and set(point.defended) == {0.0, 1.0, 8.0}
  if point.noise is not None:
    assert point.defended[point.noise] >= point.simple[0.0] - 0.01
  assert not [d for d in os.listdir(os.path.join(cfg.output_dir, cfg.variant)) if "operating-folds" in d]
  out = capsys.readouterr().out
  assert "fold 1/2" in out and "[2/2]" in out and "min left" in out


def test_cli_writes_the_choice_table_and_figure_and_refuses_bad_input(tiny_run, tmp_path):
  cfg, cache = tiny_run
  variant = os.path.join(cfg.output_dir, cfg.variant)
  out = run_module("operating_point", [f"--model_dir={variant}/dpfe", "--noise=0,2,8", f"--output_dir={tmp_path}"],
                   cache)
  point = json.load(open(tmp_path / "operating_point.json"))
  assert point["partition"] == "val" and list(point["defended"]) == ["0", "2", "8"]
  assert point["noise"] in (None, 2.0, 8.0) and "chosen:" in out.stdout and "validation people" in out.stdout
  assert (tmp_path / "operating_point.png").stat().st_size > 10_000
  for args, message in (([f"--model_dir={variant}/dpfe", "--folds=1"], "folds must be 0"),
                        ([f"--model_dir={variant}/simple"], "name a defended model's folder"),
                        ([f"--model_dir={variant}/dpfe", "--noise=0,x"], "--noise must be a comma list")):
    bad = run_module("operating_point", args, cache, check=False)
    assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
