"""Choosing the operating noise r of a defended model without the evaluated people.

Test-time noise r C trades accuracy for privacy; a user has to fix one r before seeing the people
it will protect. The rule: the largest r of the grid at which the defended model's accuracy under
that noise stays within ``tolerance`` of Simple's accuracy at noise 0 (none: no r qualifies).

Where the accuracies are measured:

- ``folds=0``: the validation people, with the trained models (20 people, 413 images on the
  CelebA subset: an accuracy gap has a standard error near 2 points there, and on that subset the
  validation people understated what the noise costs the test people for every defence);
- ``folds=k``: k folds of the *training* people. Each fold trains its own original MOON, Simple
  and defended model (the run's recipe, its weight and margin) on the other folds -- the run's
  models have seen every training image -- and scores the held-out fold; accuracy is pooled over
  every training image.

The noise is the evaluation's (``privacy.noise``): C the covariance of the scored features, with
``noise_shape="predictor"`` the directions each model's predictor reads (found on the images it
trained on) left free of noise; each image's accuracy is averaged over ``draws`` noise draws.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import io_utils, run_dir
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import pipeline
from dpfe_tf.privacy import noise
from dpfe_tf.training import search


@dataclasses.dataclass
class OperatingPoint:
  """The chosen r and the accuracies behind it (per r: pooled over every scored image)."""
  defence: str
  noise: float | None                 # None: no r > 0 kept the accuracy
  why: str
  folds: int                          # 0: the validation people; k: k folds of the training people
  identities: int
  images: int
  tolerance: float
  noise_shape: str
  simple: dict                        # r -> Simple's accuracy under that noise
  defended: dict                      # r -> the defended model's
  gap_se: dict                        # r -> standard error of (defended at r - Simple at 0), paired by image
  seconds: float = 0.0

  @property
  def partition(self) -> str:
    return f"train ({self.folds} folds)" if self.folds else "val"

  @property
  def where(self) -> str:
    return f"{self.folds} folds of the training people" if self.folds else "the validation people"

  def as_dict(self) -> dict:
    d = {**dataclasses.asdict(self), "partition": self.partition, "where": self.where}
    for k in ("simple", "defended", "gap_se"):
      d[k] = {f"{r:g}": v for r, v in d[k].items()}
    return d


def accuracy_under_noise(split, held, trained_on, names, *, grid, shape="predictor", draws=3, seed=0) -> dict:
  """{r: per-image fraction of ``names`` right} of a split model on ``held`` under noise r C
  (``trained_on``: images whose features locate what the predictor reads, for the shaped noise)."""
  f = split.extractor.predict(pipeline.image_batches(held.images, 256), verbose=0)
  labels = held.attributes[:, attrs.attribute_indices(names)]
  directions = None
  if shape == "predictor":
    seen = split.extractor.predict(pipeline.image_batches(trained_on.images, 256), verbose=0)
    directions, _ = noise.predictor_directions(split.predictor, seen)
  cov = noise.noise_covariance(f, directions)
  out = {}
  for r in grid:
    right = [attrs.correct_per_image(split.predictor.predict(noise.add_noise(f, r, cov, seed + j), batch_size=1024,
                                                             verbose=0), labels) for j in range(draws if r else 1)]
    out[r] = np.mean(right, axis=0)
  return out


def choose(simple_accuracy: float, defended: dict, tolerance: float) -> tuple[float | None, str]:
  """The largest r > 0 whose accuracy is >= Simple's at noise 0 - tolerance, and why."""
  ok = [r for r, a in defended.items() if r > 0 and a >= simple_accuracy - tolerance]
  points = f"{100 * tolerance:g} point{'' if round(100 * tolerance, 9) == 1 else 's'}"
  limit = f"within {points} of Simple's accuracy at noise 0 ({100 * simple_accuracy:.1f}%)"
  if not ok:
    return None, f"no noise level kept the accuracy {limit}"
  r = max(ok)
  return r, f"the largest noise level whose accuracy ({100 * defended[r]:.1f}%) stays {limit}"


def _fold_root(stage: run_dir.Stage) -> str:
  return os.path.join(run_dir.variant_of(stage).path, f"{stage.name}.operating-folds")


def _fixed_recipe(stage: run_dir.Stage) -> config_lib.TrainConfig:
  """The defended stage's training configuration with its weight and margin as used (no search)."""
  cfg = stage.train_config()
  used = stage.metrics().get("defence", {})
  d = dataclasses.replace(cfg.defence, beta=used.get("beta", cfg.defence.resolved(cfg.feature_dim)["beta"]),
                          margin=used.get("margin") if cfg.defence.spec.uses_margin else None, search_folds=0)
  return dataclasses.replace(cfg, defence=d)


def _fold_models(h: search.Holdout, progress):
  """(Simple, defended) split models of a fold, trained on the other folds (reused if finished,
  resumed from their last epoch if interrupted)."""
  from dpfe_tf.training import stages
  simple = search.simple_split(h)
  stage = h.ctx.stage(h.ctx.cfg.defence.name)
  if not stage.done:
    t = time.time()
    progress(f"  {h.name}: training its {stage.name} model on the other folds")
    stage.write_config(stages.identity(h.ctx.cfg, stage.name), h.ctx.cfg, "in progress")
    stages.train_defence(h.ctx)
    progress(f"  {h.name}: {stage.name} trained in {time.time() - t:.0f} s")
  return simple, stage.halves()


def _holdouts(cfg: config_lib.OperatingPointConfig, stage: run_dir.Stage, train_cfg, splits):
  """[(holdout, models)]: the validation people with ``models()`` giving the run's (Simple, defended)
  models, or the folds with None (their models are trained by ``_fold_models``)."""
  from dpfe_tf.training import stages
  variant = run_dir.variant_of(stage)
  ctx = stages.Context(train_cfg, run_dir.RunDir(os.path.dirname(variant.path)), variant, splits)
  if not cfg.folds:
    h = search.Holdout(f"{splits.val.num_identities} validation identities", ctx, splits.val,
                       search.public_sample(splits.train, train_cfg.seed))
    return [(h, lambda: (variant.stage(run_dir.SIMPLE).halves(), stage.halves()))]
  root = _fold_root(stage)
  key = json.loads(io_utils.json_text({"folds": cfg.folds, "identity": stages.identity(train_cfg, stage.name)}))
  key_file = os.path.join(root, "key.json")
  if os.path.isdir(root) and (not os.path.isfile(key_file) or io_utils.read_json(key_file) != key):
    shutil.rmtree(root)  # another recipe's folds
  os.makedirs(root, exist_ok=True)
  io_utils.write_json(key_file, key)
  return [(h, None) for h in search.fold_holdouts(ctx, cfg.folds, root)]


def run(cfg: config_lib.OperatingPointConfig, progress=print) -> OperatingPoint:
  """Chooses the operating noise of the defended model in ``cfg.model_dir``. Writes only the folds'
  models (``<variant>/<defence>.operating-folds``, removed once every fold is scored)."""
  from dpfe_tf.training import stages
  stage = run_dir.defended_stage(cfg.model_dir)
  train_cfg = _fixed_recipe(stage)
  names = train_cfg.attribute_names
  t0 = time.time()
  splits = stages.load_splits(train_cfg.data)
  keras.utils.set_random_seed(train_cfg.seed)
  simple_right = {r: [] for r in cfg.noise_grid}
  defended_right = {r: [] for r in cfg.noise_grid}
  holdouts = _holdouts(cfg, stage, train_cfg, splits)
  for i, (h, trained) in enumerate(holdouts):
    simple, defended = trained() if trained else _fold_models(h, progress)
    for right, split in ((simple_right, simple), (defended_right, defended)):
      for r, v in accuracy_under_noise(split, h.held, h.public, names, grid=cfg.noise_grid, shape=cfg.noise_shape,
                                       draws=cfg.draws, seed=train_cfg.seed).items():
        right[r].append(v)
    left = (time.time() - t0) / (i + 1) * (len(holdouts) - i - 1)
    progress(f"  [{i + 1}/{len(holdouts)}] {h.name} scored: accuracy at r = 0 Simple "
             f"{100 * np.mean(simple_right[0.0][-1]):.1f}%, {stage.name} "
             f"{100 * np.mean(defended_right[0.0][-1]):.1f}%; about {left / 60:.1f} min left")
  if cfg.folds:  # kept until every fold is scored: an interrupted run resumes from the finished folds
    shutil.rmtree(_fold_root(stage), ignore_errors=True)
  simple = {r: np.concatenate(v) for r, v in simple_right.items()}
  defended = {r: np.concatenate(v) for r, v in defended_right.items()}
  simple_acc = {r: float(v.mean()) for r, v in simple.items()}
  defended_acc = {r: float(v.mean()) for r, v in defended.items()}
  chosen, why = choose(simple_acc[0.0], defended_acc, cfg.tolerance)
  held = [h for h, _ in holdouts]
  return OperatingPoint(
      defence=stage.name, noise=chosen, why=why,
      folds=cfg.folds,
      identities=int(sum(h.held.num_identities for h in held)), images=int(sum(len(h.held) for h in held)),
      tolerance=cfg.tolerance, noise_shape=cfg.noise_shape,
      simple=simple_acc, defended=defended_acc,
      gap_se={r: search.paired_se(v, simple[0.0]) for r, v in defended.items()},
      seconds=round(time.time() - t0, 1))
