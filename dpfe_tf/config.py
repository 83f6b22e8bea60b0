"""What each command runs with, as dataclasses: validated on creation, saved to and read from JSON.

Every default lives here once (the flags in ``dpfe_tf/flags.py`` take theirs from these
fields), and every value is checked here, so a bad one is a one-line ``ValueError`` whether it
came from a flag, a notebook or a saved ``config.json``.

- ``DataConfig``: which faces, at which size, cached where.
- ``DefenceConfig``: which defence fine-tunes the Simple model, and its weight (``beta``),
  margin, or the validation search that chooses them.
- ``TrainConfig``: Procedure 1 (original -> simple -> defence).
- ``EvalConfig``: Procedure 2 (noise, attackers, intervals) on trained models.
- ``OperatingPointConfig``: the operating noise r, chosen without the evaluated people.
- ``ExportConfig``, ``InvertConfig``: the mobile export and the reconstruction attack.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing

from dpfe_tf.data import attributes as attrs
from dpfe_tf.models import moon
from dpfe_tf.privacy import attackers as attackers_lib
from dpfe_tf.privacy import noise as noise_lib

#: Image size used when none is given: small enough for CPUs.
DEFAULT_IMAGE_SIZE = {"synthetic": (48, 40), "celeba": (109, 89)}
#: The attacker keeps identities with more than this many images (the reference code's 18).
DEFAULT_MIN_IMAGES = 18
#: The paper's grid of noise scales r.
DEFAULT_NOISE_GRID = (0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 4.0, 6.0, 8.0)
#: The grid an operating noise is chosen from (the shaped-noise experiments' grid).
OPERATING_NOISE_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SPLITS = ("train", "val", "test")
#: What the evaluation can add beside trained stages: the original MOON's cut, PCA to the feature dim.
BASELINES = ("original_pca",)
#: What each extra seed of an evaluation trains again: Simple and the defence from the run's one
#: original MOON, or its own original MOON too (then the seeds cover the whole training's spread).
SEEDS_RETRAIN = ("simple", "original")
MIN_IMAGE_SIDE = 16


def parse_image_size(value) -> tuple[int, int] | None:
  """"HxW" (e.g. 109x89), "full" (218x178), "auto"/None (the data's default), or a (H, W) pair."""
  if value in (None, "", "auto"):
    return None
  if value == "full":
    return tuple(moon.FULL_IMAGE_SIZE)
  try:
    h, w = (int(v) for v in (value.lower().split("x") if isinstance(value, str) else value))
  except (ValueError, TypeError):
    raise ValueError(f"image size must be HxW (e.g. 109x89), 'full' or 'auto', got {value!r}") from None
  if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE or h > 4096 or w > 4096:
    raise ValueError(f"image size {h}x{w}: each side must be between {MIN_IMAGE_SIDE} and 4096 pixels")
  return (h, w)


def _positive(obj, *names, allow_none=False):
  for n in names:
    v = getattr(obj, n)
    if v is None and allow_none:
      continue
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 1:
      raise ValueError(f"{n} must be a positive whole number, got {v!r}")


def _finite_positive(obj, *names, zero_ok=False):
  for n in names:
    v = getattr(obj, n)
    ok = isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if zero_ok else v > 0)
    if not ok:
      raise ValueError(f"{n} must be a finite number {'>= 0' if zero_ok else '> 0'}, got {v!r}")


def _fraction(obj, name, lo=0.0, hi=1.0, lo_open=True, hi_open=True):
  v = getattr(obj, name)
  ok = isinstance(v, (int, float)) and math.isfinite(v) and (v > lo if lo_open else v >= lo) and \
      (v < hi if hi_open else v <= hi)
  if not ok:
    raise ValueError(f"{name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}, "
                     f"got {v!r}")


@dataclasses.dataclass
class DataConfig:
  """Which faces: a CelebA-layout folder (or a prepared TFDS celeb_a), or the embedded demo."""
  data_dir: str | None = None        # None: the embedded synthetic faces
  image_size: tuple | None = None    # None: 48x40 on the demo data, 109x89 on CelebA
  cache_dir: str | None = None       # decoded images (default ~/.cache/dpfe_tf or $DPFE_TF_CACHE)
  limit: int | None = None           # at most this many images per partition (smoke runs)
  max_bad_fraction: float = 0.01

  def __post_init__(self):
    if self.data_dir is not None:
      self.data_dir = os.path.abspath(os.path.expanduser(str(self.data_dir)))
    size = parse_image_size(self.image_size)
    self.image_size = size or DEFAULT_IMAGE_SIZE["synthetic" if self.synthetic else "celeba"]
    _positive(self, "limit", allow_none=True)
    _fraction(self, "max_bad_fraction", 0.0, 1.0, lo_open=False, hi_open=False)

  @property
  def synthetic(self) -> bool:
    return self.data_dir is None

  @property
  def name(self) -> str:
    """Short name of the data: ``demo`` or the folder's name (the default run folder)."""
    return "demo" if self.synthetic else os.path.basename(os.path.normpath(self.data_dir))

  @property
  def identity(self) -> str:
    """What a trained stage records as its data: the folder, or ``synthetic:<the faces' version>``."""
    if self.synthetic:
      from dpfe_tf.data import synthetic
      return f"synthetic:{synthetic.SyntheticSpec().name}"
    return self.data_dir

  def folder(self) -> str:
    """The CelebA-layout folder, generating the embedded demo data on first use."""
    if self.synthetic:
      from dpfe_tf.data import synthetic
      return synthetic.ensure_default()
    if not os.path.isdir(self.data_dir):
      from dpfe_tf.data.celeba import DataError
      raise DataError(f"data dir not found: {self.data_dir}")
    return self.data_dir

  def load(self, split: str, limit: int | None = None):
    from dpfe_tf.data import celeba
    return celeba.load(self.folder(), split, self.image_size, cache_dir=self.cache_dir,
                       max_bad_fraction=self.max_bad_fraction, limit=limit or self.limit)


@dataclasses.dataclass
class DefenceConfig:
  """The defence that fine-tunes the Simple model (``dpfe_tf.defences``) and its strength.

  ``beta`` is the defence loss's weight (the paper's beta for DPFE); ``margin`` is DPFE's margin.
  None takes the defence's default (``preset="reference"``: the paper's 0.01 and 10 for DPFE);
  "auto" chooses among the candidates on validation identities.
  """
  name: str = "dpfe"
  beta: float | str | None = None
  margin: float | str | None = None
  preset: str = "default"            # default | reference
  beta_candidates: tuple | None = None     # None: the defence's grid
  margin_candidates: tuple | None = None   # relative to sqrt(2 x feature_dim); None: the grid
  search_epochs: int | None = None         # None: as many as the final fine-tuning
  accuracy_tolerance: float = 0.01
  search_folds: int = 0                    # 0: score on the validation partition; k >= 2: on k folds of training people
  feature_noise: float = 0.0               # std of N(0, s^2 I) on the feature before the predictor while fine-tuning
  feature_noise_shape: str = "isotropic"   # isotropic | predictor (no training noise along what the predictor reads)

  def __post_init__(self):
    from dpfe_tf import defences
    spec = defences.get(self.name)
    if self.preset not in ("default", "reference"):
      raise ValueError(f"unknown preset {self.preset!r}; use default or reference")
    if self.preset == "reference" and spec.reference is None:
      raise ValueError(f"the reference preset is DPFE's (the paper's beta 0.01, margin 10); "
                       f"the {self.name} defence has none")
    self.beta = _float_or_auto(self.beta, "beta")
    self.margin = _float_or_auto(self.margin, "margin")
    if self.margin is not None and not spec.uses_margin:
      raise ValueError(f"--margin applies to the dpfe defence only, not to {self.name}")
    if isinstance(self.beta, float) and not (math.isfinite(self.beta) and self.beta >= 0):
      raise ValueError(f"beta must be a finite number >= 0, got {self.beta}")
    if isinstance(self.margin, float) and not (math.isfinite(self.margin) and self.margin > 0):
      raise ValueError(f"margin must be a finite number > 0, got {self.margin}")
    for field in ("beta_candidates", "margin_candidates"):
      v = getattr(self, field)
      if v is not None:
        v = tuple(float(x) for x in v)
        if not v or not all(math.isfinite(x) and x > 0 for x in v):
          raise ValueError(f"{field} must be positive finite numbers, got {getattr(self, field)!r}")
        setattr(self, field, v)
    _positive(self, "search_epochs", allow_none=True)
    _fraction(self, "accuracy_tolerance", 0.0, 1.0, lo_open=False)
    self.feature_noise = float(self.feature_noise)
    if not (math.isfinite(self.feature_noise) and self.feature_noise >= 0):
      raise ValueError(f"feature_noise must be a finite number >= 0, got {self.feature_noise}")
    from dpfe_tf.privacy import noise
    if self.feature_noise_shape not in noise.NOISE_SHAPES:
      raise ValueError(f"unknown feature_noise_shape {self.feature_noise_shape!r}; choose one of "
                       f"{', '.join(noise.NOISE_SHAPES)}")
    if self.feature_noise_shape != "isotropic" and not self.feature_noise:
      raise ValueError(f"feature_noise_shape={self.feature_noise_shape} shapes the training noise: "
                       f"give feature_noise > 0 too")
    if isinstance(self.search_folds, bool) or not isinstance(self.search_folds, int) or self.search_folds in (1,) \
        or self.search_folds < 0:
      raise ValueError(f"search_folds must be 0 (the validation partition) or a whole number >= 2, "
                       f"got {self.search_folds!r}")

  @property
  def spec(self):
    from dpfe_tf import defences
    return defences.get(self.name)

  @property
  def searching(self) -> bool:
    return "auto" in (self.beta, self.margin)

  def resolved(self, feature_dim: int) -> dict:
    """{"beta": float | "auto", "margin": float | "auto" | None} with the defaults filled in."""
    spec = self.spec
    scale = margin_scale(feature_dim)
    if self.preset == "reference":
      beta, margin = spec.reference
    else:
      beta, margin = spec.default_beta, (spec.default_margin_rel * scale if spec.uses_margin else None)
    return {"beta": beta if self.beta is None else self.beta,
            "margin": margin if self.margin is None else self.margin}

  def candidates(self, feature_dim: int) -> tuple[tuple, tuple]:
    """(betas, absolute margins) the search tries; a fixed value is a one-element list."""
    spec, chosen = self.spec, self.resolved(feature_dim)
    betas = (self.beta_candidates or spec.beta_candidates) if chosen["beta"] == "auto" else (chosen["beta"],)
    if not spec.uses_margin:
      return tuple(betas), (None,)
    rels = (self.margin_candidates or spec.margin_candidates_rel) if chosen["margin"] == "auto" else None
    margins = tuple(r * margin_scale(feature_dim) for r in rels) if rels else (chosen["margin"],)
    return tuple(betas), margins


def margin_scale(dim: int) -> float:
  """The typical distance of two batch-normalised codes: sqrt(2 x dim)."""
  return math.sqrt(2.0 * dim)


def _folders(dirs) -> tuple:
  dirs = (dirs,) if isinstance(dirs, str) else tuple(dirs)
  if not dirs:
    raise ValueError("name at least one trained model folder")
  return tuple(os.path.abspath(os.path.expanduser(d)) for d in dirs)


def _float_or_auto(value, name):
  if value is None:
    return None
  if isinstance(value, str) and value.strip().lower() == "auto":
    return "auto"
  try:
    return float(value)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be a number or 'auto', got {value!r}") from None


@dataclasses.dataclass
class TrainConfig:
  """Procedure 1: the original MOON, Simple and one defence, written into a run folder."""
  output_dir: str | None = None      # None: runs/<data name>
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  layer: str = "conv7"
  attributes: str = "G"
  feature_dim: int = 10
  defence: DefenceConfig = dataclasses.field(default_factory=DefenceConfig)
  batch_size: int = 64
  epochs_original: int = 6
  epochs_simple: int = 4
  epochs_defence: int = 4
  steps_per_epoch: int | None = None     # cap on steps per epoch (None: one pass over the data)
  lr_original: float = 1e-3
  lr_simple: float = 3e-4
  lr_defence: float = 3e-4
  same_pair_fraction: float = 0.1
  images_per_identity: int | None = None  # K of the P x K defence batches; overrides the fraction
  pca_samples: int = 2048
  seed: int = 0
  augment: bool = True
  original_model: str | None = None      # a trained original .keras (default: <run>/original)
  min_images: int = DEFAULT_MIN_IMAGES   # the search's attacker keeps identities with more images
  overwrite: bool = False                # move another configuration's stages aside and retrain
  verbose: int | None = None
  tensorboard: bool = False
  strategy: str = "default"
  pair_groups: int = 1                   # defence pairs within each of this many batch slices

  def __post_init__(self):
    if isinstance(self.data, dict):
      self.data = from_dict(DataConfig, self.data)
    if isinstance(self.defence, dict):
      self.defence = from_dict(DefenceConfig, self.defence)
    moon.check_layer(self.layer)
    self.attributes = attrs.set_name(attrs.resolve_attributes(self.attributes))
    _positive(self, "feature_dim", "batch_size", "epochs_original", "epochs_simple", "epochs_defence",
              "pca_samples", "pair_groups", "min_images")
    _positive(self, "steps_per_epoch", allow_none=True)
    _finite_positive(self, "lr_original", "lr_simple", "lr_defence")
    _fraction(self, "same_pair_fraction")
    if self.images_per_identity is not None and (isinstance(self.images_per_identity, bool) or
                                                 not isinstance(self.images_per_identity, int) or
                                                 self.images_per_identity < 2):
      raise ValueError(f"images_per_identity must be a whole number >= 2, got {self.images_per_identity!r}")
    if self.batch_size % self.pair_groups:
      raise ValueError(f"the batch size ({self.batch_size}) must be a multiple of the pair groups / "
                       f"replicas ({self.pair_groups})")
    if self.feature_dim > 4096:
      raise ValueError(f"feature_dim {self.feature_dim} is not a bottleneck")
    if self.original_model is not None:
      self.original_model = os.path.abspath(os.path.expanduser(self.original_model))
    if self.output_dir is None:
      self.output_dir = os.path.join("runs", self.data.name)
    self.output_dir = os.path.abspath(os.path.expanduser(self.output_dir))

  @property
  def attribute_names(self) -> tuple[str, ...]:
    return attrs.resolve_attributes(self.attributes)

  @property
  def variant(self) -> str:
    """The folder of this layer x attribute set (x feature dim) inside the run folder."""
    return f"{self.layer}-{self.attributes.replace(',', '+')}" + (
        f"-d{self.feature_dim}" if self.feature_dim != 10 else "")

  def images_per_identity_for(self, replicas: int = 1) -> int:
    from dpfe_tf.data import sampling
    return self.images_per_identity or sampling.images_per_identity_for(
        self.batch_size // self.pair_groups, self.same_pair_fraction)

  def for_seed(self, k: int, original_model: str | None, output_dir: str | None = None) -> "TrainConfig":
    """The same Simple/defence training with seed + k from a given original MOON (``original_model``
    None: an original MOON of its own, trained in ``output_dir``)."""
    return dataclasses.replace(self, seed=self.seed + k, original_model=original_model,
                               output_dir=output_dir or self.output_dir, overwrite=False)


@dataclasses.dataclass
class EvalConfig:
  """Procedure 2 on trained models: noise, attackers, measures, intervals, verdicts."""
  model_dirs: tuple = ()                 # variant folders (<run>/<layer>-<set>) or stage folders
  data_dir: str | None = None            # None: the models' training data
  split: str = "test"
  output_dir: str | None = None          # None: <first model dir>/evaluation
  noise_grid: tuple = DEFAULT_NOISE_GRID
  noise_shape: str = "isotropic"         # or "predictor": no noise along the predictor's directions
  operating_noise: float | None = None   # also: each model at this noise level against the other at noise 0
  attackers: tuple = ("all",)
  min_images: int = DEFAULT_MIN_IMAGES
  probe_fraction: float = 0.1
  rotate: bool = True                    # every kept image a probe once
  seed: int = 0
  seeds: int = 1
  seeds_retrain: str = "simple"          # what an extra seed trains again: simple (and the defence) or original too
  bootstrap: int = 1000
  reconstruction_noise: tuple = (0.0,)   # noise levels at which the reconstruction attacker runs
  against: str | None = None             # verdicts of every model against this one (None: every pair)
  baselines: tuple = ()                  # also evaluate: original_pca (the original MOON's cut, PCA to dim)
  cache_dir: str | None = None
  limit: int | None = None

  def __post_init__(self):
    self.model_dirs = _folders(self.model_dirs)
    if self.data_dir is not None:
      self.data_dir = os.path.abspath(os.path.expanduser(self.data_dir))
    if self.split not in SPLITS:
      raise ValueError(f"unknown split {self.split!r}; use {', '.join(SPLITS)}")
    self.noise_grid = tuple(float(r) for r in self.noise_grid)
    if not self.noise_grid or not all(math.isfinite(r) and r >= 0 for r in self.noise_grid):
      raise ValueError(f"noise scales must be finite numbers >= 0, got {self.noise_grid!r}")
    if sorted(set(self.noise_grid)) != list(self.noise_grid):
      raise ValueError(f"noise scales must be increasing and distinct, got {self.noise_grid!r}")
    if self.operating_noise is not None and self.operating_noise not in self.noise_grid[1:]:
      raise ValueError(f"the operating noise {self.operating_noise:g} must be one of the noise scales above the first "
                       f"({', '.join(f'{r:g}' for r in self.noise_grid)})")
    if self.noise_shape not in noise_lib.NOISE_SHAPES:
      raise ValueError(f"unknown noise shape {self.noise_shape!r}; use {' or '.join(noise_lib.NOISE_SHAPES)}")
    if self.noise_shape == "predictor" and self.split == "train":
      raise ValueError("--noise_shape=predictor finds the predictor's directions on the training people: "
                       "evaluate another partition (--split=val or test)")
    self.reconstruction_noise = tuple(float(r) for r in self.reconstruction_noise)
    self.attackers = tuple(attackers_lib.check_names(self.attackers)) or ("all",)
    self.baselines = tuple(self.baselines)
    if any(b not in BASELINES for b in self.baselines):
      raise ValueError(f"unknown baseline(s) {self.baselines}; choose from {', '.join(BASELINES)}")
    _positive(self, "min_images", "seeds", "bootstrap")
    _positive(self, "limit", allow_none=True)
    if self.seeds_retrain not in SEEDS_RETRAIN:
      raise ValueError(f"unknown --seeds_retrain {self.seeds_retrain!r}; use {' or '.join(SEEDS_RETRAIN)}")
    if self.seeds_retrain == "original" and self.seeds < 2:
      raise ValueError("--seeds_retrain=original trains the extra seeds again from their own original MOON: "
                       "give --seeds=2 or more")
    _fraction(self, "probe_fraction", 0.0, 0.5, hi_open=False)


@dataclasses.dataclass
class ExportConfig:
  """The mobile export of a trained stage's extractor (and the MOON trunks)."""
  model_dir: str = ""                    # a stage folder, or a variant folder with --stage
  stage: str = "dpfe"
  output_dir: str | None = None          # None: <stage>/tflite
  data_dir: str | None = None            # calibration and parity data (None: the training data)
  forms: tuple = ("float32", "dynamic", "float16", "int8")
  qat: bool = False
  qat_steps: int = 200
  trunks: bool = True
  representative: int = 128
  parity_images: int = 512
  min_images: int = DEFAULT_MIN_IMAGES
  seed: int = 0
  cache_dir: str | None = None

  def __post_init__(self):
    from dpfe_tf.mobile import convert
    if not self.model_dir:
      raise ValueError("name the trained model folder to export (--model_dir)")
    self.model_dir = os.path.abspath(os.path.expanduser(self.model_dir))
    self.forms = tuple(self.forms)
    unknown = [f for f in self.forms if f not in convert.FORMS]
    if unknown or not self.forms:
      raise ValueError(f"unknown TFLite form(s) {unknown or self.forms}; use {', '.join(convert.FORMS)}")
    _positive(self, "qat_steps", "representative", "parity_images", "min_images")


@dataclasses.dataclass
class InvertConfig:
  """The reconstruction attack: decoders trained on what the phone sends."""
  model_dirs: tuple = ()
  sources: tuple = ("original", "simple", "dpfe")
  data_dir: str | None = None
  output_dir: str | None = None
  epochs: int = 10
  batch_size: int = 64
  learning_rate: float = 1e-3
  grid_images: int = 8
  perceptual_layer: str | None = None    # a MOON layer whose outputs the decoder also matches (None: pixels only)
  face_recogniser: bool = True           # re-identify with dlib when it is installed (else MOON's embedding only)
  seed: int = 0
  limit: int | None = None
  cache_dir: str | None = None

  def __post_init__(self):
    self.model_dirs = _folders(self.model_dirs)
    from dpfe_tf import defences
    self.sources = tuple(self.sources)
    if not self.sources:
      raise ValueError("name at least one source to invert: original, simple or a defence")
    for s in self.sources:
      if s != "original":
        try:
          defences.get(s)
        except ValueError:
          raise ValueError(f"sources to invert must be original, simple or a defence, got {s!r}") from None
    _positive(self, "epochs", "batch_size")
    _positive(self, "limit", allow_none=True)
    _finite_positive(self, "learning_rate")
    if not isinstance(self.grid_images, int) or self.grid_images < 0:
      raise ValueError(f"grid_images must be a whole number >= 0, got {self.grid_images!r}")


@dataclasses.dataclass
class OperatingPointConfig:
  """Choosing the operating noise r of a defended model without the evaluated people
  (``python -m dpfe_tf.operating_point``): the largest r of the grid at which its accuracy under
  that noise stays within ``tolerance`` of Simple's at noise 0, measured on the validation people
  (``folds=0``, the trained models) or on ``folds`` folds of the training people (each fold's
  original MOON, Simple and defended model trained on the other folds)."""
  model_dir: str = ""                    # the defended model's stage folder (<run>/<layer>-<set>/<defence>)
  folds: int = 0
  noise_grid: tuple = OPERATING_NOISE_GRID
  noise_shape: str = "predictor"
  tolerance: float = 0.01
  draws: int = 3                         # noise draws per image, averaged
  output_dir: str | None = None          # None: <variant>/operating_point-<defence>

  def __post_init__(self):
    if not self.model_dir:
      raise ValueError("name the defended model's stage folder (--model_dir=<run>/<layer>-<set>/<defence>)")
    self.model_dir = os.path.abspath(os.path.expanduser(self.model_dir))
    if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds == 1 or self.folds < 0:
      raise ValueError(f"folds must be 0 (the validation people) or a whole number >= 2, got {self.folds!r}")
    self.noise_grid = tuple(float(r) for r in self.noise_grid)
    if not all(math.isfinite(r) and r >= 0 for r in self.noise_grid) or sorted(set(self.noise_grid)) != \
        list(self.noise_grid) or not any(r > 0 for r in self.noise_grid):
      raise ValueError(f"noise scales must be increasing, distinct, >= 0 and include one above 0, "
                       f"got {self.noise_grid!r}")
    if self.noise_grid[0] != 0:
      self.noise_grid = (0.0, *self.noise_grid)   # Simple's noise-0 accuracy is the reference
    if self.noise_shape not in noise_lib.NOISE_SHAPES:
      raise ValueError(f"unknown noise shape {self.noise_shape!r}; use {' or '.join(noise_lib.NOISE_SHAPES)}")
    _fraction(self, "tolerance", 0.0, 1.0, lo_open=False)
    _positive(self, "draws")


@dataclasses.dataclass
class VerifyConfig:
  """A user's check of a released TFLite extractor on their own labelled photos."""
  extractor: str = ""
  data_dir: str = ""
  card: str | None = None             # None: the .json beside the extractor
  split: str = "all"
  predictor: str | None = None        # the cloud predictor (.keras), to report accuracy
  attackers: tuple = ("feature",)
  min_images: int = DEFAULT_MIN_IMAGES
  rotate: bool = True
  seed: int = 0
  cache_dir: str | None = None

  def __post_init__(self):
    if not self.extractor or not self.data_dir:
      raise ValueError("name the extractor (--extractor) and a folder of labelled photos (--data_dir)")
    if self.split not in SPLITS + ("all",):
      raise ValueError(f"unknown split {self.split!r}; use all, {', '.join(SPLITS)}")
    self.attackers = tuple(self.attackers) or ("feature",)
    other = [n for n in self.attackers if n not in ("all", "feature") + attackers_lib.GALLERY_ATTACKERS]
    if other:
      raise ValueError(f"verify has no public people, so it runs {', '.join(attackers_lib.GALLERY_ATTACKERS)} "
                       f"(all / feature: those); not {', '.join(other)}")
    _positive(self, "min_images")


# ---------------------------------------------------------------------------- JSON


def to_dict(cfg) -> dict:
  return dataclasses.asdict(cfg)


def from_dict(cls, d: dict):
  """A config from its ``to_dict`` form; an unknown key is an error (it would be silently ignored)."""
  if not isinstance(d, dict):
    raise ValueError(f"a {cls.__name__} must be a JSON object, got {type(d).__name__}")
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(d) - set(fields))
  if unknown:
    raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
  hints = typing.get_type_hints(cls)
  kwargs = {}
  for k, v in d.items():
    hint = hints[k]
    if dataclasses.is_dataclass(hint) and isinstance(v, dict):
      v = from_dict(hint, v)
    elif isinstance(v, list) and "tuple" in str(hint):
      v = tuple(v)
    kwargs[k] = v
  return cls(**kwargs)
