"""Procedure 1 of the paper: the original MOON, then Simple, then a defence, as stages of a run folder.

- ``original``: MOON trained on all 40 attributes (shared by every layer and attribute set).
- ``simple``: MOON cut at the layer, a PCA-initialised linear bottleneck with batch norm on its
  code, fine-tuned on the attribute set: the extractor (phone) and the predictor (cloud).
- a defence (``dpfe`` by default): Simple fine-tuned on P x K identity batches with the defence's
  loss on the private feature; its weight may be chosen on validation identities (``search``).

Each stage writes its models, ``history.json``, ``metrics.json`` (attribute accuracy on the test
partition, written last: it marks the stage finished) and ``config.json`` (the stage's identity:
everything its weights depend on). A finished stage with the same identity is reused; an
interrupted one resumes from its last epoch checkpoint; a NaN loss stops training and keeps the
last good checkpoint; a folder holding another configuration's stage is refused unless
``overwrite``, which moves the old stage aside (see ``run_dir``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import time

import keras
import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import defences, io_utils, run_dir
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import celeba, pipeline, sampling
from dpfe_tf.models import compiled, moon, separation
from dpfe_tf.models.training_model import TrainingModel
from dpfe_tf.training import callbacks, distribute, search


@dataclasses.dataclass
class Splits:
  train: celeba.FaceData
  val: celeba.FaceData
  test: celeba.FaceData


def load_splits(data: config_lib.DataConfig) -> Splits:
  s = Splits(*(data.load(part) for part in ("train", "val", "test")))
  logging.info("data %s at %dx%d: train %d images / %d identities, val %d / %d, test %d / %d",
               data.folder(), *data.image_size, len(s.train), s.train.num_identities, len(s.val),
               s.val.num_identities, len(s.test), s.test.num_identities)
  return s


@dataclasses.dataclass
class Context:
  """What a stage runs with: the configuration, where it writes, the data and the strategy."""
  cfg: config_lib.TrainConfig
  run: run_dir.RunDir
  variant: run_dir.Variant
  splits: Splits
  strategy: object = None
  clock: callbacks.JobClock | None = None  # the run's epochs left and their pace (a line per epoch)

  @property
  def replicas(self) -> int:
    return distribute.replicas(self.strategy) if distribute.is_distributed(self.strategy) else 1

  def stage(self, name) -> run_dir.Stage:
    return self.run.original if name == run_dir.ORIGINAL else self.variant.stage(name)


# ---------------------------------------------------------------------------- identity


def identity(cfg: config_lib.TrainConfig, stage: str) -> dict:
  """Everything a stage's weights depend on; a saved stage with another identity is another run's."""
  data = cfg.data
  common = {"data": data.identity,
            "image_size": list(data.image_size), "limit": data.limit, "seed": cfg.seed,
            "batch_size": cfg.batch_size, "steps_per_epoch": cfg.steps_per_epoch, "augment": cfg.augment}
  if stage == run_dir.ORIGINAL:
    return {**common, "epochs": cfg.epochs_original, "lr": cfg.lr_original}
  original = ({"trained_here": identity(cfg, run_dir.ORIGINAL)} if cfg.original_model is None else
              {"path": cfg.original_model, "sha256": io_utils.file_sha256(cfg.original_model)
               if os.path.isfile(cfg.original_model) else None})
  simple = {**common, "original": original, "layer": cfg.layer, "attributes": cfg.attributes,
            "feature_dim": cfg.feature_dim, "pca_samples": cfg.pca_samples, "epochs": cfg.epochs_simple,
            "lr": cfg.lr_simple}
  if stage == run_dir.SIMPLE:
    return simple
  d = cfg.defence
  out = {"simple": simple, "defence": d.name, **d.resolved(cfg.feature_dim), "epochs": cfg.epochs_defence,
         "lr": cfg.lr_defence, "images_per_identity": cfg.images_per_identity_for(), "pair_groups": cfg.pair_groups}
  if d.feature_noise:
    out["feature_noise"] = d.feature_noise
    if d.feature_noise_shape != "isotropic":
      out["feature_noise_shape"] = d.feature_noise_shape
  if d.searching:
    betas, margins = d.candidates(cfg.feature_dim)
    out["search"] = {"betas": list(betas), "margins": list(margins), "epochs": d.search_epochs or cfg.epochs_defence,
                     "tolerance": d.accuracy_tolerance, "min_images": cfg.min_images}
    if d.search_folds:
      out["search"]["folds"] = d.search_folds
  return out


# ---------------------------------------------------------------------------- fitting


def _verbose(cfg):
  if cfg.verbose is not None:
    return cfg.verbose
  return 1 if sys.stdout.isatty() else 2


def _steps(cfg, n_images):
  steps = pipeline.steps_per_pass(n_images, cfg.batch_size)
  return min(steps, cfg.steps_per_epoch) if cfg.steps_per_epoch else steps


def fit(ctx: Context, stage: run_dir.Stage, build, train_stream, val_data, *, epochs, lr, steps, quiet=False):
  """Fits ``build()`` (a TrainingModel), or resumes it from its checkpoint; returns (model, history).

  ``train_stream(start_step)`` is the endless training stream from that step on.
  """
  cfg = ctx.cfg
  state, ckpt_model = callbacks.latest(stage.checkpoint_dir)
  if state:
    host = run_dir.load_model(ckpt_model, f"the {stage.name} checkpoint ({stage.checkpoint_dir})")
    initial_epoch, history = state["epochs_done"], state["history"]
    if not quiet:
      print(f"  resuming {stage.name} from its checkpoint after epoch {initial_epoch}", flush=True)
      if ctx.clock is not None:
        ctx.clock.resume(stage.name, initial_epoch)
  else:
    host = build()
    compiled.compile_built(host, keras.optimizers.Adam(lr))
    initial_epoch, history = 0, {}
  model = distribute.replicate(host, ctx.strategy)
  guard = callbacks.StopOnNaN()
  ckpt = callbacks.EpochCheckpoint(stage.checkpoint_dir, guard, history)
  extra = [keras.callbacks.TensorBoard(ctx.run.tensorboard_dir(ctx.variant, stage.name))] if cfg.tensorboard else []
  if ctx.clock is not None and not quiet and _verbose(cfg):  # Keras' epoch line first, then the time left
    extra += [keras.callbacks.ProgbarLogger(), callbacks.TimeLeft(ctx.clock, stage.name, epochs)]
  train_ds = train_stream(initial_epoch * steps)
  if distribute.is_distributed(ctx.strategy):
    train_ds, val_data = distribute.shardable(train_ds), distribute.shardable(val_data)
  if initial_epoch < epochs:
    with distribute.scope(ctx.strategy):
      model.fit(train_ds, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                steps_per_epoch=steps, callbacks=[guard, ckpt, *extra], verbose=0 if quiet else _verbose(cfg),
                shuffle=False)  # the streams are shuffled by (seed, step) already
  if guard.where is not None:
    state, _ = callbacks.latest(stage.checkpoint_dir)
    kept = (f"the last good checkpoint (epoch {state['epochs_done']}) is kept in {stage.checkpoint_dir}" if state
            else "no epoch finished, so there is no checkpoint")
    raise callbacks.TrainingDiverged(
        f"{stage.name}: the loss became NaN/inf at epoch {guard.where[0]}, batch {guard.where[1]}; {kept}. "
        "Re-run with a lower learning rate or defence weight to resume from it.")
  return distribute.unwrap(model, ctx.strategy), ckpt.history


def _finish(ctx: Context, stage: run_dir.Stage, models: dict, history, metrics):
  for kind, model in models.items():
    io_utils.save_model(model, stage.model_path(kind))
  stage.write_history(history)
  stage.write_config(identity(ctx.cfg, stage.name), ctx.cfg, "done")
  stage.write_metrics(metrics)  # last: marks the stage finished
  shutil.rmtree(stage.checkpoint_dir, ignore_errors=True)


def predict_logits(model, data: celeba.FaceData, batch_size=256):
  return model.predict(pipeline.image_batches(data.images, batch_size), verbose=0)


def _set_accuracy(logits, data, names):
  return attrs.attribute_accuracy(logits, data.attributes[:, attrs.attribute_indices(names)], names)


# ---------------------------------------------------------------------------- the stages


def train_original(ctx: Context):
  cfg, s = ctx.cfg, ctx.splits
  stage = ctx.stage(run_dir.ORIGINAL)
  all_idx = list(range(len(attrs.CELEBA_ATTRIBUTES)))
  model, history = fit(
      ctx, stage, lambda: TrainingModel(moon.build_moon(cfg.data.image_size, len(all_idx)), name="original"),
      lambda start: pipeline.shuffled_batches(s.train, all_idx, cfg.batch_size, seed=cfg.seed, augment=cfg.augment,
                                              start_step=start),
      pipeline.attribute_batches(s.val, all_idx), epochs=cfg.epochs_original, lr=cfg.lr_original,
      steps=_steps(cfg, len(s.train)))
  moon_model = model.extractor
  logits = predict_logits(moon_model, s.test)
  metrics = {"stage": "original",
             "all": attrs.attribute_accuracy(logits, s.test.attributes, attrs.CELEBA_ATTRIBUTES),
             "set": _set_accuracy(logits[:, attrs.attribute_indices(cfg.attribute_names)], s.test,
                                  cfg.attribute_names)}
  _finish(ctx, stage, {"model": moon_model}, history, metrics)
  return metrics


def pca_start(cfg: config_lib.TrainConfig, original, train: celeba.FaceData, info: dict) -> separation.SplitModel:
  """The original MOON cut at the layer with a PCA bottleneck: Simple's starting point (and the
  evaluation's "original cut, PCA to dim" baseline). Records the PCA's figures in ``info``."""
  if tuple(original.input_shape[1:3]) != tuple(cfg.data.image_size):
    raise ValueError(f"the original MOON takes {original.input_shape[1:3]} images, not {cfg.data.image_size}; "
                     "pass the same --image_size")
  if cfg.pca_samples < cfg.feature_dim + 1:
    raise ValueError(f"--pca_samples ({cfg.pca_samples}) must exceed the feature dim ({cfg.feature_dim})")
  trunk = keras.Model(original.input, original.get_layer(cfg.layer).output)
  rng = np.random.default_rng(cfg.seed)
  n = min(cfg.pca_samples, len(train))
  pick = np.sort(rng.choice(len(train), n, replace=False))
  cut = trunk.predict(pipeline.image_batches(train.images[pick], 128), verbose=0)
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  split, pca = separation.separate(original, cfg.layer, cfg.feature_dim, attr_idx, cut, seed=cfg.seed)
  flat = cut.reshape(n, -1)
  info["pca"] = {"samples": n, "cut_dim": int(flat.shape[1]),
                 "explained_variance": float(pca.variances.sum() / flat.var(axis=0, ddof=1).sum())}
  print(f"  PCA of {cfg.layer} ({flat.shape[1]} dims, {n} images): {cfg.feature_dim} components "
        f"explain {info['pca']['explained_variance']:.1%} of the variance", flush=True)
  return split


def _start_simple(ctx: Context, info: dict):
  """The Simple model's starting point: the original MOON cut at the layer, PCA bottleneck."""
  original = run_dir.load_model(ctx.run.original_model(ctx.cfg), "the original MOON")
  split = pca_start(ctx.cfg, original, ctx.splits.train, info)
  return TrainingModel(split.extractor, split.predictor, name="simple")


def train_simple(ctx: Context):
  cfg, s = ctx.cfg, ctx.splits
  stage = ctx.stage(run_dir.SIMPLE)
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  info = {}

  def build():
    model = _start_simple(ctx, info)
    stage.write("pca.json", info["pca"])
    return model

  model, history = fit(
      ctx, stage, build,
      lambda start: pipeline.shuffled_batches(s.train, attr_idx, cfg.batch_size, seed=cfg.seed, augment=cfg.augment,
                                              start_step=start),
      pipeline.attribute_batches(s.val, attr_idx), epochs=cfg.epochs_simple, lr=cfg.lr_simple,
      steps=_steps(cfg, len(s.train)))
  info.setdefault("pca", stage.read("pca.json"))  # resumed: build() did not run
  return _finish_split(ctx, stage, model, history, info)


def _finish_split(ctx, stage, trained: TrainingModel, history, info):
  cfg = ctx.cfg
  split = separation.SplitModel(trained.extractor, trained.predictor).paired()
  full = split.full()
  metrics = {"stage": stage.name, "layer": cfg.layer, "feature_dim": cfg.feature_dim,
             "pair_id": separation.pair_id(split.extractor),
             "set": _set_accuracy(predict_logits(full, ctx.splits.test), ctx.splits.test, cfg.attribute_names), **info}
  _finish(ctx, stage, {"extractor": split.extractor, "predictor": split.predictor, "full": full}, history, metrics)
  return metrics


def _simple_halves(ctx: Context) -> separation.SplitModel:
  return ctx.stage(run_dir.SIMPLE).halves()


def fit_defence(ctx: Context, stage: run_dir.Stage, sampler, *, beta, margin, epochs, quiet=False):
  """Fine-tunes the Simple model with the defence at (beta, margin); returns (TrainingModel, history)."""
  cfg, s = ctx.cfg, ctx.splits
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  spec = cfg.defence.spec
  groups = cfg.pair_groups // ctx.replicas  # per replica: each replica already sees only its slice

  def build():
    halves = _simple_halves(ctx)
    layer = spec.layer(beta, margin, num_identities=s.train.num_identities, groups=groups,
                       feature_dim=cfg.feature_dim)
    return TrainingModel(halves.extractor, halves.predictor, layer, feature_noise=cfg.defence.feature_noise,
                         feature_noise_shape=cfg.defence.feature_noise_shape, name=spec.name)

  return fit(ctx, stage, build,
             lambda start: pipeline.pair_batches(s.train, attr_idx, sampler, augment=cfg.augment, seed=cfg.seed,
                                                 start_step=start),
             pipeline.attribute_batches(s.val, attr_idx, with_identity=True), epochs=epochs, lr=cfg.lr_defence,
             steps=_steps(cfg, sampler.num_images), quiet=quiet)


def pair_sampler(ctx: Context):
  """The P identities x K images batches a defence fine-tunes on, over the context's training images."""
  cfg = ctx.cfg
  return sampling.IdentitySampler(ctx.splits.train.identities, cfg.batch_size, cfg.images_per_identity_for(),
                                  seed=cfg.seed, groups=cfg.pair_groups)


def train_defence(ctx: Context):
  cfg = ctx.cfg
  spec = cfg.defence.spec
  stage = ctx.stage(spec.name)
  sampler = pair_sampler(ctx)
  k = sampler.images_per_identity
  chosen = cfg.defence.resolved(cfg.feature_dim)
  selection = None
  if cfg.defence.searching:
    selection = search.run(ctx, stage, sampler)
    chosen = {"beta": selection["chosen"]["beta"], "margin": selection["chosen"]["margin"]}
  info = {"defence": {"name": spec.name, **chosen, "images_per_identity": k, "pair_groups": cfg.pair_groups,
                      "replicas": ctx.replicas, "identities_per_batch": sampler.P,
                      "same_pair_fraction": sampler.same_pair_fraction, "identities_left_out": len(sampler.dropped),
                      "images_left_out": int(sum(sampler.dropped.values()))}}
  if selection:
    info["defence"]["selection"] = {k: selection[k] for k in ("simple", "candidates", "chosen", "why", "partition",
                                                              "identities")}
  margin = "" if chosen["margin"] is None else f", margin {chosen['margin']:.3g}"
  slices = f", pairs within each of {cfg.pair_groups} slices" if cfg.pair_groups > 1 else ""
  print(f"  {spec.name}: beta {chosen['beta']:g}{margin}; batches of {sampler.P} identities x {k} images{slices} "
        f"(same-identity pair fraction {sampler.same_pair_fraction:.3f})", flush=True)
  model, history = fit_defence(ctx, stage, sampler, beta=chosen["beta"], margin=chosen["margin"],
                               epochs=cfg.epochs_defence)
  return _finish_split(ctx, stage, model, history, info)


# ---------------------------------------------------------------------------- the run


def default_stages(cfg) -> tuple:
  return (run_dir.ORIGINAL, run_dir.SIMPLE, *defences.trained([cfg.defence.name]))


def _epochs(cfg, stage) -> int:
  """The epochs a stage trains for (a defence's weight search, if any, trains more of its own)."""
  return {run_dir.ORIGINAL: cfg.epochs_original, run_dir.SIMPLE: cfg.epochs_simple}.get(stage, cfg.epochs_defence)


def _describe(cfg, stage):
  if stage == run_dir.ORIGINAL:
    return (f"MOON on all 40 attributes, {cfg.epochs_original} epochs at "
            f"{cfg.data.image_size[0]}x{cfg.data.image_size[1]}")
  what = ("fine-tune the PCA-initialised bottleneck" if stage == run_dir.SIMPLE else
          f"fine-tune with the {stage} defence ({cfg.defence.spec.summary})")
  return (f"cut at {cfg.layer}, {cfg.feature_dim}-d private feature, attributes {cfg.attributes}: {what}, "
          f"{_epochs(cfg, stage)} epochs")


RUNNERS = {run_dir.ORIGINAL: train_original, run_dir.SIMPLE: train_simple}


def run(cfg: config_lib.TrainConfig, stages=None, strategy=None, variant=None, splits=None) -> dict:
  """Runs ``stages`` (default: original, simple, the defence) in order, reusing finished ones;
  returns {stage: metrics}. ``variant``: the variant folder (default: the layer x set's in the run)."""
  stages = list(stages or default_stages(cfg))
  for s in stages:
    if s not in (run_dir.ORIGINAL, run_dir.SIMPLE):
      defences.get(s)
  if cfg.original_model and run_dir.ORIGINAL in stages:
    if stages == [run_dir.ORIGINAL]:
      raise ValueError("--stage=original with --original_model has nothing to do: the original MOON is given")
    stages.remove(run_dir.ORIGINAL)
  keras.utils.set_random_seed(cfg.seed)
  run = run_dir.RunDir(cfg.output_dir)
  ctx = Context(cfg, run, variant or run.variant(cfg.variant), None, strategy)
  with contextlib.ExitStack() as locks:
    # The variant's folder is this process's alone; the run folder only while its original MOON trains
    # (so two layers or attribute sets of one run can train side by side once the original is done).
    if run_dir.ORIGINAL in stages and not run.original.done:
      locks.enter_context(run.lock())
    locks.enter_context(ctx.variant.lock())
    _check_order(ctx, stages)
    for name in stages:
      ctx.stage(name).check(identity(cfg, name), cfg.overwrite)
    ctx.splits = splits or load_splits(cfg.data)
    ctx.clock = callbacks.JobClock({name: _epochs(cfg, name) for name in stages if not ctx.stage(name).done})
    results = {}
    for name in stages:
      stage = ctx.stage(name)
      if stage.done:
        print(f"== {name}: already trained in {stage.path}, reusing it", flush=True)
        results[name] = {**stage.metrics(), "reused": True}
        continue
      print(f"== {name}: {_describe(cfg, name)}", flush=True)
      stage.write_config(identity(cfg, name), cfg, "in progress")
      t = time.time()
      results[name] = RUNNERS.get(name, train_defence)(ctx)
      results[name]["seconds"] = round(time.time() - t, 1)
      stage.write_metrics(results[name])
  return results


def _check_order(ctx: Context, stages):
  """A stage needs the one before it: trained here, already finished, or given."""
  cfg = ctx.cfg
  original = ctx.run.original_model(cfg)
  if run_dir.SIMPLE in stages and run_dir.ORIGINAL not in stages and not os.path.isfile(original):
    raise FileNotFoundError(f"the simple stage needs a trained original MOON: run the original stage first or "
                            f"pass --original_model ({original} missing)")
  needs_simple = [s for s in stages if s not in (run_dir.ORIGINAL, run_dir.SIMPLE)]
  if needs_simple and run_dir.SIMPLE not in stages and not ctx.stage(run_dir.SIMPLE).done:
    raise FileNotFoundError(f"the {needs_simple[0]} stage needs the simple stage's models in "
                            f"{ctx.stage(run_dir.SIMPLE).path}")
