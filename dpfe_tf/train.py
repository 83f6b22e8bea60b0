"""Trains the paper's models (Procedure 1), then evaluates them (Procedure 2).

    python -m dpfe_tf.train                                   # the embedded demo faces, conv7, G
    python -m dpfe_tf.train --layer=conv6_1 --attributes=GA   # another cut of the same original MOON
    python -m dpfe_tf.train --data_dir=/data/celeba --defence=adversarial --beta=auto

Writes into the run folder (default runs/<data name>): original/ once, then <layer>-<set>/simple/
and <layer>-<set>/<defence>/, then <layer>-<set>/evaluation/ and a summary table.
"""

from __future__ import annotations

import os
import sys
import time

STARTED = time.monotonic()   # before TensorFlow's import: the run's wall time as the user waits for it

from absl import flags as absl_flags

from dpfe_tf import flags as dflags

dflags.training()
dflags.evaluation()
dflags.output_dir("Run folder: the original MOON and one folder per layer x attribute set (default runs/<data name>).")
absl_flags.DEFINE_enum("stage", "all", ["all", "original", "simple", "defence"],
                       "Which stage(s) to run (defence: the --defence stage).")
absl_flags.DEFINE_bool("evaluate", True, "After the defence stage, evaluate Simple vs the defence on the test "
                       "identities and add privacy to the summary.")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  if F.cpu_replicas is not None and F.strategy != "mirrored":
    raise ValueError("--cpu_replicas applies to --strategy=mirrored only")
  if F.tpu and F.strategy != "tpu":
    raise ValueError("--tpu applies to --strategy=tpu only")
  cfg = dflags.train_config()
  if F.seeds > 1 and not F.evaluate:
    raise ValueError(f"--seeds={F.seeds} trains the extra seeds during the evaluation, which --noevaluate skips: "
                     f"drop --noevaluate, or later run python -m dpfe_tf.evaluate --model_dir=<variant> --seeds={F.seeds}")
  if F.stage == "original" and cfg.original_model:
    raise ValueError("--stage=original with --original_model has nothing to do: the original MOON is given")
  if not cfg.data.synthetic:
    cfg.data.folder()  # a missing data folder is named before TensorFlow starts
  return cfg


def train(cfg):
  from dpfe_tf import io_utils, run_dir, tables
  from dpfe_tf.training import distribute, stages
  # First: a multi-worker strategy must exist before any other TensorFlow op.
  with io_utils.quiet_fds():
    strategy = distribute.make_strategy(F.strategy, cpu_replicas=F.cpu_replicas, tpu=F.tpu)
  chief = distribute.is_chief(strategy)
  if not chief:  # every worker keeps its own copy of the stages (they must all see the same ones)
    cfg = dflags.train_config(output_dir=os.path.join(cfg.output_dir, "workers", distribute.worker_name(strategy)))
  if distribute.is_distributed(strategy):
    replicas = distribute.replicas(strategy)
    if cfg.batch_size % replicas:
      raise ValueError(f"the global batch ({cfg.batch_size}) must split evenly over the {replicas} replicas")
    if F.pair_groups is None:
      import dataclasses
      cfg = dataclasses.replace(cfg, pair_groups=replicas)
    print(f"== {F.strategy} strategy: {replicas} replicas, global batch {cfg.batch_size} "
          f"({cfg.batch_size // replicas} per replica); this process is {distribute.worker_name(strategy)}"
          f"{' (chief)' if chief else ', writing to ' + cfg.output_dir}", flush=True)
  order = stages.default_stages(cfg)
  chosen = {"all": order, "original": (run_dir.ORIGINAL,), "simple": (run_dir.SIMPLE,),
            "defence": order[2:]}[F.stage]
  if not chosen:
    raise ValueError(f"--stage=defence with --defence={cfg.defence.name}: this defence has no stage of its own")
  results = stages.run(cfg, chosen, strategy)
  if not chief:
    print(f"worker {distribute.worker_name(strategy)} done; the chief writes the models and the evaluation")
    return 0
  variant = run_dir.RunDir(cfg.output_dir).variant(cfg.variant)
  evaluation_seconds = None
  if F.evaluate and len(variant.finished_stages()) >= 2 and order[2:]:
    t = time.monotonic()
    privacy = _evaluate(variant)
    evaluation_seconds = time.monotonic() - t
  else:
    privacy = None
  rows = tables.summary_rows(results, privacy)
  total = time.monotonic() - STARTED
  seconds = {"total": round(total, 1), "evaluation": evaluation_seconds and round(evaluation_seconds, 1)}
  io_utils.write_json(os.path.join(variant.path, "summary.json"), {"rows": rows, "stages": results, "seconds": seconds})
  print("\nSummary (test partition; chance = majority-class rate):")
  print(tables.format_summary(rows))
  print(f"\nModels and metrics in {variant.path}/ (the original MOON: {run_dir.RunDir(cfg.output_dir).original_model(cfg)})")
  print(tables.timing_line(results, evaluation_seconds, total))
  return 0


def _evaluate(variant):
  """The trade-off curves of Simple and the defence; a data set too small for the attacker only warns."""
  from dpfe_tf import reports, tables
  from dpfe_tf.privacy import evaluation
  cfg = dflags.eval_config([variant.path], output_dir=variant.report_dir("evaluation"))
  print("\n== evaluation: Simple vs the defence, accuracy-privacy trade-off on the test identities", flush=True)
  try:
    result = evaluation.evaluate(cfg)
  except ValueError as e:
    print(f"warning: privacy evaluation skipped: {dflags.one_line(e)}", file=sys.stderr)
    return None
  with variant.lock():
    paths = reports.write_evaluation(result, cfg.output_dir)
  print(tables.evaluation_report(result, paths))
  return {c.name: c.points[0] for c in result.curves}


main = dflags.cli_main(configure, train, devices=False)


def run():
  dflags.run(main)


if __name__ == "__main__":
  run()
