"""Procedure 1 of the paper: the three training stages, original -> simple -> dpfe.

Each stage writes into ``<output_dir>/<stage>/``: its models (``.keras``), ``history.json``,
``metrics.json`` (attribute accuracy on the test partition) and ``config.json``. A stage
whose ``metrics.json`` exists is done and is reused; an interrupted stage resumes from
its last good epoch checkpoint. An output dir holding a stage trained with another
configuration is refused unless ``overwrite`` is set.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import shutil
import sys
import time

import keras
import numpy as np

from dpfe_tf import accuracy, callbacks, distribute, io_utils, losses, selection
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import celeba, pipeline, sampling, synthetic
from dpfe_tf.models import moon, separation

STAGES = ("original", "simple", "dpfe")
#: Image size used when none is given: small enough for CPUs.
DEFAULT_IMAGE_SIZE = {"synthetic": (64, 52), "celeba": (109, 89)}


class ConfigMismatch(ValueError):
  pass


@dataclasses.dataclass
class TrainConfig:
  output_dir: str
  data_dir: str | None = None            # None: the embedded synthetic data
  layer: str = "conv7"
  attributes: str = "G"
  image_size: tuple[int, int] | None = None
  feature_dim: int = 10
  batch_size: int = 64
  epochs_original: int = 8
  epochs_simple: int = 4
  epochs_dpfe: int = 4
  steps_per_epoch: int | None = None     # cap on steps per epoch (None: one pass over the data)
  lr_original: float = 1e-3
  lr_simple: float = 3e-4
  lr_dpfe: float = 3e-4
  beta: float | str = losses.DEFAULT_BETA       # or "auto": chosen on validation identities
  margin: float | str = losses.DEFAULT_MARGIN   # or "auto" (candidates relative to sqrt(2 dim))
  beta_candidates: tuple = selection.DEFAULT_BETAS
  margin_candidates: tuple = selection.DEFAULT_MARGINS_REL
  search_epochs: int = 2
  accuracy_tolerance: float = 0.01
  min_images: int = 18                          # attacker's identities: more images than this
  same_pair_fraction: float = 0.1
  images_per_identity: int | None = None  # overrides same_pair_fraction when set
  pca_samples: int = 2048
  seed: int = 0
  augment: bool = True
  original_model: str | None = None      # start the simple stage from this .keras instead
  limit: int | None = None               # at most this many images per partition (smoke runs)
  max_bad_fraction: float = 0.01
  cache_dir: str | None = None
  overwrite: bool = False
  verbose: int | None = None
  tensorboard: bool = False              # TensorBoard logs in <output_dir>/tensorboard/<stage>
  strategy: str = "default"              # name of the tf.distribute strategy (recorded)
  pair_groups: int = 1                   # y-remover pairs within each of this many batch slices
  # The tf.distribute strategy object itself (not saved; None: one device).
  distribution: object = dataclasses.field(default=None, repr=False, compare=False)

  def __post_init__(self):
    moon.check_layer(self.layer)
    self.attribute_names = attrs.resolve_attributes(self.attributes)
    if self.image_size is None:
      self.image_size = DEFAULT_IMAGE_SIZE["synthetic" if self.data_dir is None else "celeba"]
    self.image_size = tuple(int(v) for v in self.image_size)
    for name in ("feature_dim", "batch_size", "pair_groups"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be positive")
    if self.batch_size % self.pair_groups:
      raise ValueError(f"the batch size ({self.batch_size}) must be a multiple of the pair groups / "
                       f"replicas ({self.pair_groups})")
    if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
      raise ValueError("--tensorboard needs the tensorboard package (pip install tensorboard)")
    if self.pair_groups % self.replicas:
      raise ValueError(f"pair groups ({self.pair_groups}) must be a multiple of the replicas ({self.replicas})")
    self.beta = selection.as_float_or_auto(self.beta, "beta")
    self.margin = selection.as_float_or_auto(self.margin, "margin")
    if (self.beta != "auto" and self.beta < 0) or (self.margin != "auto" and self.margin <= 0):
      raise ValueError("beta must be >= 0 and margin > 0")
    self.beta_candidates = tuple(self.beta_candidates)
    self.margin_candidates = tuple(self.margin_candidates)

  @property
  def searching(self) -> bool:
    return "auto" in (self.beta, self.margin)

  @property
  def replicas(self) -> int:
    return distribute.replicas(self.distribution) if self.distribution is not None else 1

  @property
  def k(self) -> int:
    return self.images_per_identity or sampling.images_per_identity_for(
        self.batch_size // self.pair_groups, self.same_pair_fraction)

  def stage_identity(self, stage: str) -> dict:
    """What a stage's result depends on; a saved stage with other values is another run's."""
    ident = {"data_dir": os.path.abspath(self.data_dir) if self.data_dir else "synthetic",
             "image_size": list(self.image_size), "seed": self.seed, "limit": self.limit,
             "original_model": self.original_model}
    if stage in ("simple", "dpfe"):
      ident.update(layer=self.layer, attributes=list(self.attribute_names),
                   feature_dim=self.feature_dim)
    if stage == "dpfe":
      ident.update(beta=self.beta, margin=self.margin, images_per_identity=self.k)
      if self.pair_groups != 1:
        ident.update(pair_groups=self.pair_groups)
      if self.searching:
        ident.update(beta_candidates=list(self.beta_candidates), margin_candidates=list(self.margin_candidates),
                     search_epochs=self.search_epochs, accuracy_tolerance=self.accuracy_tolerance,
                     min_images=self.min_images)
    return ident


@dataclasses.dataclass
class Splits:
  train: celeba.FaceData
  val: celeba.FaceData
  test: celeba.FaceData
  data_dir: str


def load_splits(cfg: TrainConfig) -> Splits:
  data_dir = cfg.data_dir or synthetic.ensure_default()
  kw = dict(image_size=cfg.image_size, cache_dir=cfg.cache_dir, limit=cfg.limit,
            max_bad_fraction=cfg.max_bad_fraction)
  s = Splits(*(celeba.load(data_dir, part, **kw) for part in ("train", "val", "test")), data_dir)
  logging.info("data %s at %dx%d: train %d images / %d identities, val %d / %d, test %d / %d",
               data_dir, *cfg.image_size, len(s.train), s.train.num_identities, len(s.val),
               s.val.num_identities, len(s.test), s.test.num_identities)
  return s


def stage_dir(cfg: TrainConfig, stage: str) -> str:
  return os.path.join(cfg.output_dir, stage)


def is_done(cfg: TrainConfig, stage: str) -> bool:
  return os.path.isfile(os.path.join(stage_dir(cfg, stage), "metrics.json"))


def check_stage_dir(cfg: TrainConfig, stage: str):
  """Refuses a stage dir that holds another run's artifacts (unless overwrite)."""
  d = stage_dir(cfg, stage)
  cfg_path = os.path.join(d, "config.json")
  if not os.path.isdir(d) or not os.listdir(d):
    return
  if os.path.isfile(cfg_path):
    saved = io_utils.read_json(cfg_path).get("identity", {})
    diff = {k: (saved.get(k), v) for k, v in cfg.stage_identity(stage).items() if saved.get(k) != v}
    if not diff:
      return
    why = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
  else:
    why = "it holds files but no config.json of this tool"
  if not cfg.overwrite:
    raise ConfigMismatch(f"{d} holds another run's {stage} stage ({why}). Use another "
                         "--output_dir, or --overwrite to replace it.")
  logging.warning("overwriting %s (%s)", d, why)
  shutil.rmtree(d)


def load_model(path):
  """Keras safe-mode load (no Lambda layers, no arbitrary code) with this package's layers."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"model not found: {path}")
  return keras.saving.load_model(path, custom_objects={"YRemover": losses.YRemover}, safe_mode=True)


def _verbose(cfg):
  if cfg.verbose is not None:
    return cfg.verbose
  return 1 if sys.stdout.isatty() else 2


def _fit(cfg, stage, build, train_ds, val_ds, epochs, lr, steps):
  """Compiles ``build()`` (or resumes its checkpoint) and fits with checkpoints + NaN guard."""
  ckpt_dir = os.path.join(stage_dir(cfg, stage), "checkpoint")
  state, ckpt_model = callbacks.EpochCheckpoint.load_state(ckpt_dir)
  strategy = cfg.distribution
  if state:
    with distribute.scope(strategy):
      model = load_model(ckpt_model)
    model.optimizer.learning_rate.assign(lr)
    initial_epoch, history = state["epochs_done"], state["history"]
    print(f"  resuming {stage} from its checkpoint after epoch {initial_epoch}", flush=True)
  else:
    model = distribute.replicate(build(), strategy)  # built on the host, then copied into the strategy
    with distribute.scope(strategy):
      model.compile(optimizer=keras.optimizers.Adam(lr),
                    loss=keras.losses.BinaryCrossentropy(from_logits=True),
                    metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="acc")])
    initial_epoch, history = 0, {}
  guard = callbacks.StopOnNaN()
  ckpt = callbacks.EpochCheckpoint(ckpt_dir, guard, history)
  extra = [keras.callbacks.TensorBoard(os.path.join(cfg.output_dir, "tensorboard", stage))] \
      if cfg.tensorboard else []
  if distribute.is_distributed(strategy):
    train_ds, val_ds = distribute.shardable(train_ds), distribute.shardable(val_ds)
    distribute.prepare(model, strategy, train_ds)
  if initial_epoch < epochs:
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
              steps_per_epoch=steps, callbacks=[guard, ckpt, *extra], verbose=_verbose(cfg), shuffle=False)
  if guard.where is not None:
    state, _ = callbacks.EpochCheckpoint.load_state(ckpt_dir)
    kept = f"the last good checkpoint (epoch {state['epochs_done']}) is kept in {ckpt_dir}" if state \
        else "no epoch finished, so there is no checkpoint"
    raise callbacks.TrainingDiverged(
        f"{stage}: the loss became NaN/inf at epoch {guard.where[0]}, batch {guard.where[1]}; "
        f"{kept}. Re-run with a lower learning rate to resume from it.")
  return distribute.unwrap(model), ckpt.history


def _steps(cfg, n):
  steps = max(1, n // cfg.batch_size)
  return min(steps, cfg.steps_per_epoch) if cfg.steps_per_epoch else steps


def _finish_stage(cfg, stage, models: dict, history, metrics):
  d = stage_dir(cfg, stage)
  for name, model in models.items():
    io_utils.save_model(model, os.path.join(d, f"{name}.keras"))
  io_utils.write_json(os.path.join(d, "history.json"), history)
  _write_stage_config(cfg, stage, "done")
  io_utils.write_json(os.path.join(d, "metrics.json"), metrics)  # last: marks the stage done
  shutil.rmtree(os.path.join(d, "checkpoint"), ignore_errors=True)


def _config_dict(cfg):
  out = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "distribution"}
  out["replicas"] = cfg.replicas
  out["attribute_names"] = list(cfg.attribute_names)
  out["images_per_identity"] = cfg.k
  return out


def predict_logits(model, data: celeba.FaceData, batch_size=256):
  return model.predict(pipeline.image_batches(data.images, batch_size), verbose=0)


def _write_stage_config(cfg, stage, status="in progress"):
  io_utils.write_json(os.path.join(stage_dir(cfg, stage), "config.json"),
                      {"identity": cfg.stage_identity(stage), "config": _config_dict(cfg), "status": status})


def run_original(cfg: TrainConfig, data: Splits):
  all_idx = list(range(40))
  _write_stage_config(cfg, "original")
  train = pipeline.attribute_batches(data.train, all_idx, cfg.batch_size, training=True,
                                     seed=cfg.seed, augment=cfg.augment)
  val = pipeline.attribute_batches(data.val, all_idx, 256)
  model, history = _fit(cfg, "original", lambda: moon.build_moon(cfg.image_size, 40),
                        train, val, cfg.epochs_original, cfg.lr_original, _steps(cfg, len(data.train)))
  logits = predict_logits(model, data.test)
  metrics = {"stage": "original",
             "all": accuracy.attribute_accuracy(logits, data.test.attributes, attrs.CELEBA_ATTRIBUTES),
             "set": _set_accuracy(logits[:, attrs.attribute_indices(cfg.attribute_names)],
                                  data.test, cfg)}
  _finish_stage(cfg, "original", {"model": model}, history, metrics)
  return metrics


def _set_accuracy(logits, test, cfg):
  return accuracy.attribute_accuracy(
      logits, test.attributes[:, attrs.attribute_indices(cfg.attribute_names)], cfg.attribute_names)


def original_model_path(cfg):
  return cfg.original_model or os.path.join(stage_dir(cfg, "original"), "model.keras")


def run_simple(cfg: TrainConfig, data: Splits):
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  _write_stage_config(cfg, "simple")
  info = {}

  def build():
    original = load_model(original_model_path(cfg))
    if tuple(original.input_shape[1:3]) != cfg.image_size:
      raise ValueError(f"the original model takes {original.input_shape[1:3]} images, "
                       f"not {cfg.image_size}; pass the same --image_size")
    trunk = keras.Model(original.input, original.get_layer(cfg.layer).output)
    rng = np.random.default_rng(cfg.seed)
    n = min(cfg.pca_samples, len(data.train))
    pick = np.sort(rng.choice(len(data.train), n, replace=False))
    cut = trunk.predict(pipeline.image_batches(data.train.images[pick], 128), verbose=0)
    split, pca = separation.separate(original, cfg.layer, cfg.feature_dim, attr_idx, cut, seed=cfg.seed)
    flat = cut.reshape(n, -1)
    info["pca"] = {"samples": n, "cut_dim": int(flat.shape[1]),
                   "explained_variance": float(pca.variances.sum() / flat.var(axis=0, ddof=1).sum())}
    io_utils.write_json(os.path.join(stage_dir(cfg, "simple"), "pca.json"), info["pca"])
    print(f"  PCA of {cfg.layer} ({flat.shape[1]} dims, {n} images): {cfg.feature_dim} components "
          f"explain {info['pca']['explained_variance']:.1%} of the variance", flush=True)
    return split.full()

  train = pipeline.attribute_batches(data.train, attr_idx, cfg.batch_size, training=True,
                                     seed=cfg.seed, augment=cfg.augment)
  val = pipeline.attribute_batches(data.val, attr_idx, 256)
  full, history = _fit(cfg, "simple", build, train, val, cfg.epochs_simple, cfg.lr_simple,
                       _steps(cfg, len(data.train)))
  pca_path = os.path.join(stage_dir(cfg, "simple"), "pca.json")
  if "pca" not in info and os.path.isfile(pca_path):  # resumed: build() did not run
    info["pca"] = io_utils.read_json(pca_path)
  return _finish_split_stage(cfg, "simple", full, history, data, info)


def _halves(model):
  return separation.SplitModel(model.get_layer("extractor"), model.get_layer("predictor"))


def _finish_split_stage(cfg, stage, trained, history, data, info):
  split = _halves(trained)
  full = split.full()
  metrics = {"stage": stage, "layer": cfg.layer, "feature_dim": cfg.feature_dim,
             "set": _set_accuracy(predict_logits(full, data.test), data.test, cfg), **info}
  _finish_stage(cfg, stage, {"extractor": split.extractor, "predictor": split.predictor,
                             "full": full}, history, metrics)
  return metrics


def _simple_split(cfg):
  d = stage_dir(cfg, "simple")
  return separation.SplitModel(load_model(os.path.join(d, "extractor.keras")),
                               load_model(os.path.join(d, "predictor.keras")))


def _fit_dpfe(cfg, data, sampler, beta, margin, stage, epochs):
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  train = pipeline.pair_batches(data.train, attr_idx, sampler, augment=cfg.augment, seed=cfg.seed)
  val = pipeline.attribute_batches(data.val, attr_idx, 256, with_identity=True)
  groups = cfg.pair_groups // cfg.replicas  # per replica: each replica already sees only its slice
  return _fit(cfg, stage, lambda: _simple_split(cfg).dpfe_training_model(margin, beta, groups=groups), train, val,
              epochs, cfg.lr_dpfe, _steps(cfg, sampler.num_images))


def run_dpfe(cfg: TrainConfig, data: Splits):
  _write_stage_config(cfg, "dpfe")
  sampler = sampling.IdentitySampler(data.train.identities, cfg.batch_size, cfg.k, seed=cfg.seed,
                                     groups=cfg.pair_groups)
  beta, margin, search = cfg.beta, cfg.margin, None
  if cfg.searching:
    quiet = dataclasses.replace(cfg, verbose=0)
    search = selection.search(
        quiet, data, lambda b, m, stage: _halves(_fit_dpfe(quiet, data, sampler, b, m, stage, cfg.search_epochs)[0]),
        lambda: _simple_split(cfg), stage_dir(cfg, "dpfe"))
    beta, margin = search["chosen"]["beta"], search["chosen"]["margin"]
  info = {"y_remover": {"beta": beta, "margin": margin, "images_per_identity": cfg.k,
                        "pair_groups": cfg.pair_groups, "replicas": cfg.replicas,
                        "identities_per_batch": sampler.P,
                        "same_pair_fraction": sampler.same_pair_fraction,
                        "identities_left_out": len(sampler.dropped),
                        "images_left_out": int(sum(sampler.dropped.values()))}}
  if search:
    info["y_remover"]["selection"] = {k: search[k] for k in ("simple", "candidates", "chosen", "why", "partition", "identities")}
  slices = f", pairs within each of {cfg.pair_groups} slices" if cfg.pair_groups > 1 else ""
  print(f"  y-remover: beta {beta:g}, margin {margin:.3g}; batches of {sampler.P} identities x "
        f"{cfg.k} images{slices} (same-identity pair fraction {sampler.same_pair_fraction:.3f})", flush=True)
  model, history = _fit_dpfe(cfg, data, sampler, beta, margin, "dpfe", cfg.epochs_dpfe)
  return _finish_split_stage(cfg, "dpfe", model, history, data, info)


RUNNERS = {"original": run_original, "simple": run_simple, "dpfe": run_dpfe}


def run(cfg: TrainConfig, stages=STAGES) -> dict:
  """Runs ``stages`` in order, reusing finished ones; returns {stage: metrics}."""
  keras.utils.set_random_seed(cfg.seed)
  os.makedirs(cfg.output_dir, exist_ok=True)
  needed = list(stages)
  if cfg.original_model and "original" in needed:
    needed.remove("original")
  if ("simple" in needed and "original" not in needed and not cfg.original_model
      and not is_done(cfg, "original")):
    raise FileNotFoundError(f"the simple stage needs a trained original model: run the original "
                            f"stage first or pass --original_model ({original_model_path(cfg)} missing)")
  if "dpfe" in needed and "simple" not in needed and not is_done(cfg, "simple"):
    raise FileNotFoundError(f"the dpfe stage needs the simple stage's models in {stage_dir(cfg, 'simple')}")
  for stage in needed:
    check_stage_dir(cfg, stage)
  data = load_splits(cfg)
  results = {}
  for stage in needed:
    if is_done(cfg, stage):
      print(f"== {stage}: already trained in {stage_dir(cfg, stage)}, reusing it", flush=True)
      results[stage] = io_utils.read_json(os.path.join(stage_dir(cfg, stage), "metrics.json"))
      continue
    print(f"== {stage}: {_describe(cfg, stage)}", flush=True)
    t = time.time()
    results[stage] = RUNNERS[stage](cfg, data)
    results[stage]["seconds"] = round(time.time() - t, 1)
    io_utils.write_json(os.path.join(stage_dir(cfg, stage), "metrics.json"), results[stage])
  return results


def _describe(cfg, stage):
  if stage == "original":
    return f"MOON on all 40 attributes, {cfg.epochs_original} epochs at {cfg.image_size[0]}x{cfg.image_size[1]}"
  what = "fine-tune the PCA-initialised bottleneck" if stage == "simple" else "fine-tune with the y-remover"
  return (f"cut at {cfg.layer}, {cfg.feature_dim}-d private feature, attributes "
          f"{attrs.set_name(cfg.attribute_names)}: {what}, {getattr(cfg, 'epochs_' + stage)} epochs")
