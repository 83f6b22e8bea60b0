"""The on-disk layout of a run: the only module that knows folder names, file names and the keys
of the ``config.json`` files.

    <output_dir>/                          a run folder (default runs/<data name>, e.g. runs/demo)
      .lock                                held by the process writing here
      original/                            the original MOON (unless --original_model points elsewhere)
        model.keras config.json metrics.json history.json [checkpoint/]
      <layer>-<set>/                       a variant: one cut layer x attribute set (e.g. conv7-G)
        simple/ dpfe/ adversarial/ nopeek/ stages: extractor.keras predictor.keras full.keras
                                           config.json metrics.json history.json [pca.json search.*]
        evaluation/ compare/ inversion/    reports
        seeds/seed_<k>/<stage>/            the same stages trained with seed + k from the same MOON

A stage is finished when its ``metrics.json`` exists (written last). Its ``config.json`` holds
the stage's *identity* (everything its weights depend on) and the whole ``TrainConfig``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import zipfile

from dpfe_tf import config as config_lib
from dpfe_tf import io_utils

ORIGINAL = "original"
SIMPLE = "simple"
#: The files the tool writes in a stage folder (``--overwrite`` moves them aside, nothing else).
STAGE_FILES = ("model.keras", "extractor.keras", "predictor.keras", "full.keras", "config.json",
               "metrics.json", "history.json", "pca.json", "search.json", "search.png", "checkpoint")


class ConfigMismatch(ValueError):
  pass


class ModelFileError(ValueError):
  pass


def load_model(path, what="model"):
  """Keras safe-mode load (no Lambda layers, no code) of a ``.keras`` file; a damaged file is a
  one-line error naming it."""
  import keras

  from dpfe_tf.defences import adversarial, combined, nopeek, y_remover  # noqa: F401  (registers the layers)
  from dpfe_tf.models import training_model  # noqa: F401
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{what} not found: {path}")
  damaged = f"{path}: not a readable Keras model file ({{}}); it is damaged or incomplete: delete it and train it again"
  try:
    with zipfile.ZipFile(path) as z:
      bad = z.testzip()
  except (zipfile.BadZipFile, OSError, EOFError):
    raise ModelFileError(damaged.format("not a complete .keras archive: truncated or overwritten")) from None
  if bad is not None:
    raise ModelFileError(damaged.format(f"{bad} fails its checksum")) from None
  try:
    return keras.saving.load_model(path, safe_mode=True)
  except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError, EOFError) as e:
    reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    raise ModelFileError(damaged.format(f"{type(e).__name__}: {reason}")) from None


class Stage:
  """One stage folder (original, simple or a defence)."""

  def __init__(self, path, name=None):
    self.path = os.path.abspath(path)
    self.name = name or os.path.basename(os.path.normpath(self.path))

  def __repr__(self):
    return f"Stage({self.path!r})"

  def file(self, name):
    return os.path.join(self.path, name)

  def model_path(self, kind):
    """``kind``: model (original MOON), extractor, predictor or full."""
    return self.file(f"{kind}.keras")

  @property
  def checkpoint_dir(self):
    return self.file("checkpoint")

  @property
  def done(self) -> bool:
    return os.path.isfile(self.file("metrics.json"))

  @property
  def is_split(self) -> bool:
    return os.path.isfile(self.model_path("extractor")) and os.path.isfile(self.model_path("predictor"))

  # -- config.json / metrics.json / history.json

  def read_config(self) -> dict:
    return io_utils.read_json(self.file("config.json"))

  def train_config(self):
    """The ``TrainConfig`` this stage was trained with."""
    saved = self.read_config()
    if "config" not in saved:
      raise io_utils.FileFormatError(f"{self.file('config.json')}: no 'config' entry")
    try:
      return config_lib.from_dict(config_lib.TrainConfig, saved["config"])
    except (ValueError, TypeError) as e:
      raise io_utils.FileFormatError(f"{self.file('config.json')}: {e}") from None

  def identity(self) -> dict | None:
    path = self.file("config.json")
    return io_utils.read_json(path).get("identity") if os.path.isfile(path) else None

  def write_config(self, identity: dict, cfg, status: str):
    io_utils.write_json(self.file("config.json"),
                        {"identity": identity, "config": config_lib.to_dict(cfg), "status": status})

  def metrics(self) -> dict:
    return io_utils.read_json(self.file("metrics.json"))

  def write_metrics(self, metrics: dict):
    io_utils.write_json(self.file("metrics.json"), metrics)

  def history(self) -> dict:
    return io_utils.read_json(self.file("history.json"))

  def write_history(self, history: dict):
    io_utils.write_json(self.file("history.json"), history)

  def read(self, name) -> dict | None:
    """A small JSON side file of the stage (pca.json, search.json), or None."""
    path = self.file(name)
    return io_utils.read_json(path) if os.path.isfile(path) else None

  def write(self, name, obj):
    io_utils.write_json(self.file(name), obj)

  # -- models

  def load(self, kind):
    return load_model(self.model_path(kind), f"{self.name} {kind}")

  def halves(self):
    """(extractor, predictor) of a finished split stage, checked to belong together."""
    from dpfe_tf.models import separation
    extractor, predictor = self.load("extractor"), self.load("predictor")
    separation.check_pair(separation.pair_id(extractor), predictor, self.path)
    return separation.SplitModel(extractor, predictor)

  def attribute_names(self) -> tuple:
    return self.train_config().attribute_names

  # -- replacing another configuration's stage

  def check(self, identity: dict, overwrite: bool):
    """Refuses a folder holding another configuration's stage; with ``overwrite`` moves the tool's
    files aside (``<stage>.replaced-<time>/``) and leaves everything else where it is."""
    if not os.path.isdir(self.path) or not os.listdir(self.path):
      return
    saved = self.identity() if os.path.isfile(self.file("config.json")) else None
    if saved is not None:
      diff = _diff(saved, identity)
      if not diff:
        return
      why = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in list(diff.items())[:6])
    else:
      ours = [f for f in os.listdir(self.path) if f in STAGE_FILES]
      if not ours:
        return
      why = "it holds files of this tool but no config.json"
    if not overwrite:
      raise ConfigMismatch(f"{self.path} holds another configuration's {self.name} stage ({why}). Use another "
                           "--output_dir, or --overwrite to move it aside and train again.")
    aside = self.move_aside()
    print(f"  --overwrite: moved the previous {self.name} stage ({why}) to {aside}", flush=True)

  def move_aside(self) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = f"{self.path}.replaced-{stamp}"
    os.makedirs(aside)
    for f in os.listdir(self.path):
      if f in STAGE_FILES:
        shutil.move(self.file(f), os.path.join(aside, f))
    return aside


def _flatten(d, prefix=""):
  out = {}
  for k, v in (d or {}).items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _diff(saved: dict, now: dict) -> dict:
  """The keys whose values differ; a given original MOON counts by its content (``original.sha256``),
  not by where the file was (``original.path``), so copied or moved run folders still match."""
  a, b = _flatten(saved), _flatten(now)

  def same_file(key):  # "<...>original.path" whose "<...>original.sha256" is known and equal
    sha = key[:-len("path")] + "sha256"
    return key.endswith("original.path") and a.get(sha) is not None and a.get(sha) == b.get(sha)
  return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and not same_file(k)}


class Variant:
  """A layer x attribute set folder: its stages, seeds and reports."""

  def __init__(self, path):
    self.path = os.path.abspath(path)

  @property
  def name(self):
    return os.path.basename(os.path.normpath(self.path))

  def stage(self, name) -> Stage:
    return Stage(os.path.join(self.path, name), name)

  def finished_stages(self) -> list[Stage]:
    """Finished split stages: simple first, then the defences in their registry order."""
    from dpfe_tf import defences
    names = list(defences.DEFENCES) + sorted(d for d in os.listdir(self.path) if "+" in d) \
        if os.path.isdir(self.path) else []
    return [self.stage(n) for n in names if self.stage(n).done and self.stage(n).is_split]

  def seed(self, k: int, own_original: bool = False) -> "Variant":
    """Seed k's copy of this variant: seeds/seed_k (from the run's original MOON) or
    seeds/own_original/seed_k (a run folder of its own: its original MOON, Simple and defence)."""
    if k == 0:
      return self
    return Variant(os.path.join(self.path, "seeds", *(("own_original",) if own_original else ()), f"seed_{k}"))

  def report_dir(self, kind):
    """evaluation, compare or inversion."""
    return os.path.join(self.path, kind)

  def lock(self):
    """This variant's folder for one process (its stages train and its reports are written under it)."""
    return io_utils.RunLock(self.path)


class RunDir:
  """A run folder: the original MOON and the variants cut from it."""

  def __init__(self, root):
    self.root = os.path.abspath(root)

  @property
  def original(self) -> Stage:
    return Stage(os.path.join(self.root, ORIGINAL), ORIGINAL)

  def variant(self, name) -> Variant:
    return Variant(os.path.join(self.root, name))

  def lock(self):
    return io_utils.RunLock(self.root)

  def tensorboard_dir(self, variant: Variant, stage: str) -> str:
    where = "" if stage == ORIGINAL else os.path.relpath(variant.path, self.root)
    return os.path.join(self.root, "tensorboard", where, stage)

  def original_model(self, cfg) -> str:
    """The original MOON a configuration starts from: ``--original_model`` or this run's own."""
    return cfg.original_model or self.original.model_path("model")


def default_variant() -> str:
  """The variant the default training command writes (runs/demo/conv7-G): what a command given no
  ``--model_dir`` works on, once it exists."""
  cfg = config_lib.TrainConfig()
  path = RunDir(cfg.output_dir).variant(cfg.variant).path
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no --model_dir given and no {path}: train first (python -m dpfe_tf.train) or name a folder")
  return path


def default_defended_stage() -> str:
  """The default training command's defended stage (runs/demo/conv7-G/dpfe)."""
  return os.path.join(default_variant(), config_lib.TrainConfig().defence.name)


def stages_at(path, stage_names=None) -> list[Stage]:
  """The finished split stages a path names: a stage folder, or a variant folder (all its stages,
  or those in ``stage_names``), or a run folder with a single variant."""
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no such folder: {path}")
  here = Stage(path)
  if here.is_split:
    return [here]
  variant = Variant(path)
  found = variant.finished_stages()
  if not found:
    subs = sorted(d for d in os.listdir(path) if Variant(os.path.join(path, d)).finished_stages())
    if len(subs) == 1:
      variant = Variant(os.path.join(path, subs[0]))
      found = variant.finished_stages()
    elif subs:
      raise ValueError(f"{path} holds several trained variants ({', '.join(subs)}); name one, "
                       f"e.g. {os.path.join(path, subs[0])}")
  if stage_names:
    missing = [n for n in stage_names if n not in [s.name for s in found]]
    if missing:
      raise FileNotFoundError(f"{variant.path}: no finished {', '.join(missing)} stage")
    found = [s for s in found if s.name in stage_names]
  if not found:
    raise FileNotFoundError(f"{path}: no trained extractor.keras + predictor.keras here, in a stage folder "
                            "(simple/, dpfe/, ...) or in a variant folder (train first: python -m dpfe_tf.train)")
  return found


def stage_at(path, stage_name) -> Stage:
  """The one finished split stage a path names: the stage folder itself, or its variant's ``stage_name``."""
  return stages_at(path, None if Stage(path).is_split else [stage_name])[0]


def variant_stages(path, stage_names) -> list[Stage]:
  """The named finished stages of the variant folder ``path`` (``<run>/<layer>-<set>``), in that order."""
  found = stages_at(path, stage_names)
  here = os.path.abspath(path)
  if variant_of(found[0]).path != here:
    raise ValueError(f"{here} is not a variant folder: name the <run>/<layer>-<set> folder "
                     f"({variant_of(found[0]).path})")
  by_name = {s.name: s for s in found}
  return [by_name[n] for n in stage_names]


def defended_stage(path) -> Stage:
  """The defended model's stage a path names (refused: the original MOON's or Simple's)."""
  stage = stages_at(path)[0]
  if stage.name in (ORIGINAL, SIMPLE):
    raise ValueError(f"{path} is the {stage.name} stage: name a defended model's folder")
  return stage


def variant_of(stage: Stage) -> Variant:
  return Variant(os.path.dirname(stage.path))


def _run_holding(stage: Stage, cfg) -> RunDir:
  """The run folder a split stage sits in now: ``<run>/<layer>-<set>/<stage>``, a seed cut from its
  run's original (``<run>/<layer>-<set>/seeds/seed_k/<stage>``), or a seed with its own original
  MOON (``.../seeds/own_original/seed_k/<stage>``: a run folder of its own)."""
  variant = variant_of(stage).path
  parent = os.path.dirname(variant)
  if os.path.basename(variant) == cfg.variant:
    return RunDir(parent)
  if os.path.basename(parent) == "seeds":
    return RunDir(os.path.dirname(os.path.dirname(parent)))
  return RunDir(variant)


def _recorded_original_sha256(stage: Stage) -> str | None:
  """The sha256 of the given original MOON a stage's identity records, if any."""
  return next((v for k, v in _flatten(stage.identity()).items() if k.endswith("original.sha256")), None)


def original_of(stage: Stage) -> str:
  """The original MOON a split stage was cut from, looked for where the stage is now first (a run
  folder copied or moved keeps its original beside its stages), then where it was trained. A given
  one (``--original_model``, and every seed cut from its run's original) is that file while it
  exists, else the original of the run folder the stage now sits in if it is the same file (its
  sha256), else the given path (whose loading then names it missing)."""
  cfg = stage.train_config()
  here = _run_holding(stage, cfg)
  if cfg.original_model:
    if os.path.isfile(cfg.original_model):
      return cfg.original_model
    mine, sha = here.original.model_path("model"), _recorded_original_sha256(stage)
    if sha and os.path.isfile(mine) and io_utils.file_sha256(mine) == sha:
      return mine
    return cfg.original_model
  return here.original_model(cfg) if here.original.done else RunDir(cfg.output_dir).original_model(cfg)
