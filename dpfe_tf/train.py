"""Trains the paper's three models in order: original MOON, Simple, DPFE (Procedure 1).

    python -m dpfe_tf.train --layer=conv6_1 --attributes=GA
    python -m dpfe_tf.train --data_dir=/path/to/celeba --image_size=109x89 --output_dir=runs/c7

With no --data_dir it trains on the embedded synthetic faces (a demo, generated once).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from dpfe_tf import flags_common
from dpfe_tf.models import moon

flags_common.quiet_tensorflow()

F = flags.FLAGS
flags.DEFINE_string("data_dir", None, "CelebA-layout folder (img_align_celeba/ + the three annotation "
                    "files) or a folder with TFDS celeb_a prepared. Default: the embedded synthetic faces.")
flags.DEFINE_string("output_dir", "runs/dpfe", "Where models, history and metrics go.")
flags.DEFINE_enum("layer", "conv7", moon.CUT_LAYERS, "Cut layer: the extractor ends at its raw output.")
flags.DEFINE_string("attributes", "G", "Attribute set: G, GA, GAS, GASL, GASLN or a comma list of CelebA names.")
flags.DEFINE_enum("stage", "all", ["all", "original", "simple", "dpfe"], "Which stage(s) to run.")
flags.DEFINE_string("image_size", "auto", "HxW, 'full' (218x178) or 'auto' (64x52 synthetic, 109x89 CelebA).")
flags.DEFINE_integer("feature_dim", 10, "Dimension of the private feature (the bottleneck code).")
flags.DEFINE_integer("batch_size", 64, "Batch size of every stage.")
flags.DEFINE_integer("epochs", None, "Epochs of every stage (overrides the per-stage defaults).")
flags.DEFINE_integer("epochs_original", 8, "Epochs of the original stage.")
flags.DEFINE_integer("epochs_simple", 4, "Epochs of the simple stage.")
flags.DEFINE_integer("epochs_dpfe", 4, "Epochs of the dpfe stage.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (default: one pass over the data).")
flags.DEFINE_float("lr_original", 1e-3, "Adam learning rate, original stage.")
flags.DEFINE_float("lr_simple", 3e-4, "Adam learning rate, simple stage.")
flags.DEFINE_float("lr_dpfe", 3e-4, "Adam learning rate, dpfe stage.")
flags.DEFINE_string("beta", "0.01", "Weight of the y-remover loss (reference code: 0.01), or 'auto': "
                    "chosen on validation identities among --beta_candidates.")
flags.DEFINE_string("margin", "10", "Margin of the y-remover loss (reference code: 10), or 'auto': chosen "
                    "among --margin_candidates (in units of sqrt(2 x feature_dim)).")
flags.DEFINE_list("beta_candidates", ["0.01", "0.1", "0.3", "1"], "Weights tried by --beta=auto.")
flags.DEFINE_list("margin_candidates", ["1", "1.5", "2.236"], "Margins tried by --margin=auto, relative to "
                  "sqrt(2 x feature_dim) (2.236 x sqrt(20) = 10, the reference margin).")
flags.DEFINE_integer("search_epochs", 2, "Fine-tuning epochs per candidate of the search.")
flags.DEFINE_float("accuracy_tolerance", 0.01, "The search keeps candidates whose validation accuracy is at "
                   "most this much (fraction) below Simple's.")
flags.DEFINE_float("same_pair_fraction", 0.1, "Fraction of same-identity pairs in a dpfe batch.")
flags.DEFINE_integer("images_per_identity", None, "K of the P x K dpfe batches (overrides --same_pair_fraction).")
flags.DEFINE_integer("pca_samples", 2048, "Training images used for the PCA initialisation.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_bool("augment", True, "Random horizontal flips in training.")
flags.DEFINE_string("original_model", None, "Start the simple stage from this trained original .keras.")
flags.DEFINE_integer("limit", None, "Use at most this many images per partition (smoke runs).")
flags.DEFINE_float("max_bad_fraction", 0.01, "Fail when more images than this fraction cannot be decoded.")
flags.DEFINE_string("cache_dir", None, "Decoded-image cache (default ~/.cache/dpfe_tf or $DPFE_TF_CACHE).")
flags.DEFINE_bool("evaluate", True, "After the dpfe stage, run dpfe_tf.evaluate on Simple vs DPFE "
                  "(test partition) and add privacy to the summary.")
flags.DEFINE_integer("min_images", 18, "Evaluation: the attacker keeps identities with more than this many images.")
flags.DEFINE_bool("overwrite", False, "Replace stages in --output_dir that another configuration trained.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy: one device; MirroredStrategy over local GPUs (or --cpu_replicas "
                  "logical CPUs); MultiWorkerMirroredStrategy (TF_CONFIG on every worker); TPUStrategy. "
                  "--batch_size is the global batch, split evenly over the replicas.")
flags.DEFINE_integer("cpu_replicas", None, "With --strategy=mirrored: split the CPU into this many logical devices.")
flags.DEFINE_string("tpu", None, "With --strategy=tpu: the TPU's name or grpc:// address (default: the local one).")
flags.DEFINE_integer("pair_groups", None, "The y-remover forms pairs within each of this many consecutive "
                     "slices of a batch. Default: the number of replicas (pairs never cross replicas); "
                     "set it to R on one device to reproduce an R-replica run.")
flags.DEFINE_bool("tensorboard", False, "Write TensorBoard logs to <output_dir>/tensorboard/<stage>.")


def config_from_flags(strategy=None, output_dir=None):
  from dpfe_tf import distribute, selection, training
  epochs = {s: (F.epochs if F.epochs is not None else getattr(F, f"epochs_{s}")) for s in training.STAGES}
  return training.TrainConfig(
      output_dir=output_dir or F.output_dir, data_dir=F.data_dir, layer=F.layer, attributes=F.attributes,
      image_size=flags_common.parse_image_size(F.image_size), feature_dim=F.feature_dim,
      batch_size=F.batch_size, epochs_original=epochs["original"], epochs_simple=epochs["simple"],
      epochs_dpfe=epochs["dpfe"], steps_per_epoch=F.steps_per_epoch, lr_original=F.lr_original,
      lr_simple=F.lr_simple, lr_dpfe=F.lr_dpfe, beta=F.beta, margin=F.margin,
      same_pair_fraction=F.same_pair_fraction, images_per_identity=F.images_per_identity,
      pca_samples=F.pca_samples, seed=F.seed, augment=F.augment, original_model=F.original_model,
      limit=F.limit, max_bad_fraction=F.max_bad_fraction, cache_dir=F.cache_dir, overwrite=F.overwrite,
      beta_candidates=selection.candidates_from(",".join(F.beta_candidates)),
      margin_candidates=selection.candidates_from(",".join(F.margin_candidates)),
      search_epochs=F.search_epochs, accuracy_tolerance=F.accuracy_tolerance, min_images=F.min_images,
      tensorboard=F.tensorboard, strategy=F.strategy, distribution=strategy,
      pair_groups=F.pair_groups or distribute.replicas(strategy))


def train():
  from dpfe_tf import distribute, io_utils, report, training
  # First: a multi-worker strategy must exist before any other TensorFlow op.
  strategy = distribute.make_strategy(F.strategy, cpu_replicas=F.cpu_replicas, tpu=F.tpu)
  chief = distribute.is_chief(strategy)
  output_dir = F.output_dir if chief else os.path.join(F.output_dir, "workers", distribute.worker_name(strategy))
  cfg = config_from_flags(strategy, output_dir)  # checks the batch splits evenly over the replicas
  if F.strategy != "default":
    print(f"== {F.strategy} strategy: {cfg.replicas} replicas, global batch {cfg.batch_size} "
          f"({cfg.batch_size // cfg.replicas} per replica); this process is "
          f"{distribute.worker_name(strategy)}{' (chief)' if chief else ', writing to ' + output_dir}", flush=True)
  stages = training.STAGES if F.stage == "all" else (F.stage,)
  results = training.run(cfg, stages)
  if not chief:
    print(f"worker {distribute.worker_name(strategy)} done; the chief writes the models and the evaluation")
    return 0
  privacy = None
  if F.evaluate and all(training.is_done(cfg, s) for s in ("simple", "dpfe")):
    privacy = _evaluate(cfg)
  rows = report.summary_rows(results, privacy)
  io_utils.write_json(os.path.join(cfg.output_dir, "summary.json"), {"rows": rows, "stages": results})
  print("\nSummary (test partition; chance = majority-class rate; LRP = log-rank privacy at noise 0, "
        "worst of KDE and classifier attackers):")
  print(report.format_summary(rows))
  print(f"\nModels and metrics in {cfg.output_dir}/")
  return 0


def _evaluate(cfg):
  """Simple vs DPFE trade-off curves; a data set too small for the attacker only warns."""
  from dpfe_tf import evaluation
  print("\n== evaluation: Simple vs DPFE accuracy-privacy trade-off (test partition)", flush=True)
  try:
    result = evaluation.run_evaluation(
        [cfg.output_dir], cfg.data_dir, "test", None, None, min_images=F.min_images,
        seed=cfg.seed, limit=cfg.limit, cache_dir=cfg.cache_dir)
  except ValueError as e:
    print(f"warning: privacy evaluation skipped: {e}", file=sys.stderr)
    return None
  evaluation.print_report(*result)
  return {c.name: c.points[0] for c in result[0]}


main = flags_common.cli_main(train)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
