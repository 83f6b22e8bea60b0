"""Every flag shared by several commands, defined here once, with its default taken from the config
dataclass it fills (``dpfe_tf.config``); and the wrapper that turns bad input into one line.

A command calls the groups it needs at import (``data()``, ``training()``, ``evaluation()``...),
then builds its config with ``train_config()`` / ``eval_config()``: flags -> config -> library.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys

from absl import app
from absl import flags as absl_flags

from dpfe_tf import config as C

FLAGS = absl_flags.FLAGS
# Before any command imports TensorFlow: keep its C++ start-up chatter out of the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _default(cls, name):
  f = {f.name: f for f in dataclasses.fields(cls)}[name]
  return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _define(kind, name, default, help_, enum_values=None):
  if name in FLAGS:
    return
  if kind == "enum":
    absl_flags.DEFINE_enum(name, default, enum_values, help_)
  else:
    getattr(absl_flags, f"DEFINE_{kind}")(name, default, help_)


def adopt():
  """Lists the shared flags in the calling command's --help (call from the command module)."""
  absl_flags.adopt_module_key_flags(sys.modules[__name__])


def _list(values):
  return None if values is None else [str(v) for v in values]


def data():
  """Which faces: --data_dir, --image_size, --cache_dir, --limit, --max_bad_fraction."""
  _define("string", "data_dir", None, "CelebA-layout folder (img_align_celeba/ + the three annotation files) or a "
          "folder with TFDS celeb_a prepared. Default: the embedded demo faces (training), the models' data (others).")
  _define("string", "image_size", "auto", "HxW, 'full' (218x178) or 'auto' (48x40 on the demo data, 109x89 on CelebA).")
  _define("string", "cache_dir", None, "Decoded-image cache (default ~/.cache/dpfe_tf or $DPFE_TF_CACHE).")
  _define("integer", "limit", None, "Use at most this many images per partition (smoke runs).")
  _define("float", "max_bad_fraction", _default(C.DataConfig, "max_bad_fraction"),
          "Fail when more images than this fraction cannot be decoded.")


def seed():
  _define("integer", "seed", 0, "Random seed.")


def output_dir(help_):
  _define("string", "output_dir", None, help_)


def min_images():
  _define("integer", "min_images", C.DEFAULT_MIN_IMAGES, "The attacker keeps identities with more than this many images.")


def training():
  """Procedure 1's flags (train, compare)."""
  from dpfe_tf import defences
  from dpfe_tf.models import moon
  data()
  seed()
  min_images()
  T, D = C.TrainConfig, C.DefenceConfig
  _define("enum", "layer", T.layer, "Cut layer: the extractor ends at its raw output.", enum_values=list(moon.CUT_LAYERS))
  _define("string", "attributes", T.attributes, "Attribute set: G, GA, GAS, GASL, GASLN, ALL or a comma list of CelebA names.")
  _define("integer", "feature_dim", T.feature_dim, "Dimension of the private feature (the bottleneck code).")
  _define("string", "defence", _default(D, "name"), "Defence fine-tuning the Simple model: "
          + "; ".join(f"{k}: {v.summary}" for k, v in defences.DEFENCES.items()) + ".")
  _define("string", "beta", None, "Weight of the defence loss (DPFE: the paper's beta), or 'auto': chosen on validation "
          "identities among --beta_candidates. Default: the defence's (DPFE 0.3; 0.01 with --preset=reference).")
  _define("string", "margin", None, "DPFE's margin, or 'auto' (candidates in units of sqrt(2 x feature_dim)). "
          "Default: sqrt(5) x sqrt(2 x feature_dim), i.e. 10 at dim 10, the reference code's margin.")
  _define("enum", "preset", _default(D, "preset"), "reference: the paper's reference-code values (beta 0.01, margin 10), "
          "inert on a batch-normalised code; default: values chosen on validation identities.",
          enum_values=["default", "reference"])
  _define("list", "beta_candidates", None, "Weights tried by --beta=auto (default: the defence's grid).")
  _define("list", "margin_candidates", None, "Margins tried by --margin=auto, in units of sqrt(2 x feature_dim).")
  _define("integer", "search_epochs", None, "Fine-tuning epochs per search candidate (default: --epochs_defence).")
  _define("float", "accuracy_tolerance", _default(D, "accuracy_tolerance"), "The search keeps candidates whose "
          "validation accuracy is at most this much (fraction) below Simple's.")
  _define("float", "feature_noise", _default(D, "feature_noise"), "Noise-aware fine-tuning (not in the paper): the "
          "predictor sees the private feature plus N(0, s^2 I) while the defence fine-tunes (0: the paper).")
  _define("enum", "feature_noise_shape", _default(D, "feature_noise_shape"), "The shape of --feature_noise: "
          "isotropic, or predictor (none along the directions the predictor reads in each batch, the training "
          "twin of --noise_shape=predictor).", enum_values=["isotropic", "predictor"])
  _define("integer", "search_folds", _default(D, "search_folds"), "0: the search scores candidates on the validation "
          "people; k >= 2: cross-validation on k folds of the training people (each fold's original MOON, Simple "
          "and candidates trained on the other folds: k x (2 + candidates) trainings).")
  _define("integer", "batch_size", T.batch_size, "Batch size of every stage (the global batch under --strategy).")
  _define("integer", "epochs", None, "Epochs of every stage (overrides the per-stage values).")
  for stage in ("original", "simple", "defence"):
    _define("integer", f"epochs_{stage}", getattr(T, f"epochs_{stage}"), f"Epochs of the {stage} stage.")
    _define("float", f"lr_{stage}", getattr(T, f"lr_{stage}"), f"Adam learning rate of the {stage} stage.")
  _define("integer", "steps_per_epoch", None, "Cap on steps per epoch (default: one pass over the data).")
  _define("float", "same_pair_fraction", T.same_pair_fraction, "Fraction of same-identity pairs in a defence batch.")
  _define("integer", "images_per_identity", None, "K of the P x K defence batches (overrides --same_pair_fraction).")
  _define("integer", "pca_samples", T.pca_samples, "Training images used for the PCA initialisation.")
  _define("bool", "augment", T.augment, "Random horizontal flips in training.")
  _define("string", "original_model", None, "Start from this trained original MOON .keras instead of <run>/original.")
  _define("bool", "overwrite", False, "Move stages another configuration trained aside (<stage>.replaced-<time>) "
          "and train again.")
  _define("enum", "strategy", T.strategy, "tf.distribute strategy: one device; MirroredStrategy over local GPUs (or "
          "--cpu_replicas logical CPUs); MultiWorkerMirroredStrategy (TF_CONFIG on every worker); TPUStrategy.",
          enum_values=["default", "mirrored", "multi_worker", "tpu"])
  _define("integer", "cpu_replicas", None, "With --strategy=mirrored: split the CPU into this many logical devices.")
  _define("string", "tpu", None, "With --strategy=tpu: the TPU's name or grpc:// address.")
  _define("integer", "pair_groups", None, "Defence pairs and batch statistics within each of this many slices of a "
          "batch. Default: the number of replicas; set R on one device to reproduce an R-replica run.")
  _define("bool", "tensorboard", False, "Write TensorBoard logs to <output_dir>/tensorboard/.")


def evaluation():
  """Procedure 2's flags (evaluate, compare, train's closing evaluation)."""
  from dpfe_tf.privacy import attackers, noise
  seed()
  min_images()
  E = C.EvalConfig
  _define("string", "split", E.split, "Partition evaluated (test: people never seen in training).")
  _define("list", "noise", _list(C.DEFAULT_NOISE_GRID), "Noise scales r of N(0, r C).")
  _define("enum", "noise_shape", E.noise_shape, "isotropic: the paper's N(0, r C); predictor: C without the "
          "directions the cloud predictor reads (found on the training people), so the attributes survive the noise.",
          enum_values=list(noise.NOISE_SHAPES))
  _define("float", "operating_noise", E.operating_noise, "Also compare each model at this noise scale (one of --noise, chosen "
          "without the evaluated people) with the other at noise 0: paired intervals of both gaps.")
  _define("list", "attackers", list(E.attackers), "Attackers: " + ", ".join(attackers.CHOICES) + ". all: every "
          "attacker that can run (the face-recogniser ones need the 'attacks' extra and photo files).")
  _define("float", "probe_fraction", E.probe_fraction, "Fraction of the kept images that are probes in a fold.")
  _define("bool", "rotate", E.rotate, "Rotate the gallery/probe split so every kept image is a probe once.")
  _define("integer", "seeds", E.seeds, "Train (if missing, in <variant>/seeds/seed_k) and evaluate each model with this "
          "many seeds; curves pooled, intervals stratified by seed, and a t interval across the seeds' own figures.")
  _define("enum", "seeds_retrain", E.seeds_retrain, "What each extra seed trains again: simple (Simple and the "
          "defence, from the run's one original MOON) or original (its own original MOON too, in "
          "<variant>/seeds/own_original/seed_k: the interval across seeds then covers the whole training).",
          enum_values=list(C.SEEDS_RETRAIN))
  _define("integer", "bootstrap", E.bootstrap, "Bootstrap resamples of the 95% intervals.")
  _define("list", "reconstruction_noise", _list(E.reconstruction_noise), "Noise levels at which the reconstruction "
          "attacker runs (it trains a decoder per level).")
  _define("list", "baselines", [], "Also evaluate: original_pca (the original MOON's raw cut, PCA to the feature "
          "dimension, its own predictor: what the phone would send without the bottleneck's fine-tuning).")


def floats(values, name):
  try:
    return tuple(float(v) for v in values)
  except ValueError:
    raise ValueError(f"--{name} must be a comma list of numbers, got {','.join(values)!r}") from None


def data_config(data_dir=None) -> C.DataConfig:
  return C.DataConfig(data_dir if data_dir is not None else FLAGS.data_dir, FLAGS.image_size, FLAGS.cache_dir,
                      FLAGS.limit, FLAGS.max_bad_fraction)


def train_config(defence=None, output_dir=None) -> C.TrainConfig:
  """The TrainConfig the training flags describe (``defence``: another defence than --defence, which
  then ignores the DPFE-only --margin flags)."""
  F = FLAGS
  from dpfe_tf import defences
  own_margin = defence is None or defences.get(defence).uses_margin
  if F.epochs is not None and F.epochs < 1:
    raise ValueError(f"--epochs must be a positive whole number, got {F.epochs}")
  epochs = {s: F.epochs if F.epochs is not None else getattr(F, f"epochs_{s}") for s in ("original", "simple", "defence")}
  d = C.DefenceConfig(
      name=defence or F.defence, beta=F.beta, margin=F.margin if own_margin else None,
      preset=F.preset if own_margin else "default",
      beta_candidates=None if F.beta_candidates is None else floats(F.beta_candidates, "beta_candidates"),
      margin_candidates=None if F.margin_candidates is None or not own_margin else floats(F.margin_candidates,
                                                                                          "margin_candidates"),
      search_epochs=F.search_epochs, accuracy_tolerance=F.accuracy_tolerance, search_folds=F.search_folds,
      feature_noise=F.feature_noise, feature_noise_shape=F.feature_noise_shape)
  return C.TrainConfig(
      output_dir=output_dir or F.output_dir, data=data_config(), layer=F.layer, attributes=F.attributes,
      feature_dim=F.feature_dim, defence=d, batch_size=F.batch_size, epochs_original=epochs["original"],
      epochs_simple=epochs["simple"], epochs_defence=epochs["defence"], steps_per_epoch=F.steps_per_epoch,
      lr_original=F.lr_original, lr_simple=F.lr_simple, lr_defence=F.lr_defence,
      same_pair_fraction=F.same_pair_fraction, images_per_identity=F.images_per_identity, pca_samples=F.pca_samples,
      seed=F.seed, augment=F.augment, original_model=F.original_model, min_images=F.min_images,
      overwrite=F.overwrite, tensorboard=F.tensorboard, strategy=F.strategy, pair_groups=F.pair_groups or 1)


def eval_config(model_dirs, output_dir=None, data_dir=None) -> C.EvalConfig:
  F = FLAGS
  return C.EvalConfig(
      model_dirs=tuple(model_dirs), data_dir=data_dir, split=F.split, output_dir=output_dir,
      noise_grid=floats(F.noise, "noise"), noise_shape=F.noise_shape, operating_noise=F.operating_noise,
      attackers=tuple(F.attackers),
      min_images=F.min_images,
      probe_fraction=F.probe_fraction, rotate=F.rotate, seed=F.seed, seeds=F.seeds,
      seeds_retrain=F.seeds_retrain, bootstrap=F.bootstrap,
      reconstruction_noise=floats(F.reconstruction_noise, "reconstruction_noise"), baselines=tuple(F.baselines),
      cache_dir=F.cache_dir if "cache_dir" in F else None, limit=F.limit if "limit" in F else None)


def setup_logging():
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
  # TF's own Python warnings (e.g. retracing after predicting with several models) are noise here.
  logging.getLogger("tensorflow").setLevel(logging.ERROR)


#: Errors that mean bad input or a failed step the user can act on: one line, exit code 2.
#: (DataError, TFLiteError, ConfigMismatch, ModelFileError and FileFormatError are ValueErrors;
#: MissingExtra and TrainingDiverged are RuntimeErrors; PermissionError is an OSError.)
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError, OSError)


def one_line(e: BaseException) -> str:
  text = " ".join(str(e).split()) or type(e).__name__
  if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
    text += f": {e.filename}"
  return text[:2000]


def start_tensorflow(devices=True):
  """Imports TensorFlow (and with ``devices`` initialises its devices) with its C++ start-up lines
  silenced: TF 2.21 prints them before absl logging starts, whatever TF_CPP_MIN_LOG_LEVEL says.
  They are replayed if the start fails. Without ``devices`` a command can still split the CPU or
  start a multi-worker strategy (see train)."""
  from dpfe_tf import io_utils
  with io_utils.quiet_fds():
    import tensorflow as tf
    if devices:
      tf.config.list_logical_devices()


def parse(argv):
  """absl's flag parsing (``app.run``'s ``flags_parser``) under the tool's error contract: a flag
  absl itself refuses (not a number, not one of the choices, a required flag missing) is one
  ``error: ...`` line with exit code 2, as every other bad input is."""
  try:
    return absl_flags.FLAGS(argv)
  except absl_flags.Error as e:
    lines = [re.sub(r"flag --(\w+)=None: Flag --\1 must have a value other than None\.", r"--\1 is required",
                    " ".join(line.split())) for line in str(e).splitlines() if line.strip()]
    usage_error(f"{'; '.join(lines)} (--helpshort lists the flags)")


def usage_error(message: str):
  """A command line the tool cannot run: one ``error:`` line, exit code 2."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run(main):
  """``app.run`` with the tool's flag parsing (:func:`parse`): the last line of every command."""
  app.run(main, flags_parser=parse)


def cli_main(configure, work, devices=True, tensorflow=True):
  """An absl ``main``: ``configure()`` turns the flags into a checked config (before TensorFlow
  starts, so bad input fails at once), ``work(config)`` does it and returns the exit code.
  No positional arguments; user errors are one ``error: ...`` line with exit code 2. A command
  that only reads files the tool wrote (``tensorflow=False``: report) never starts TensorFlow."""
  def main(argv):
    if len(argv) > 1:
      usage_error(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")
    setup_logging()
    try:
      cfg = configure()
      if tensorflow:
        start_tensorflow(devices)
      return work(cfg)
    except USER_ERRORS as e:
      print(f"error: {one_line(e)}", file=sys.stderr)
      return 2
    except KeyboardInterrupt:
      print("interrupted: finished stages and the last epoch checkpoint are kept; run the same command to resume",
            file=sys.stderr)
      return 130
  return main
