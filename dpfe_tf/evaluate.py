"""How private are trained features against every attacker (Procedure 2, Section 5).

    python -m dpfe_tf.evaluate --model_dir=runs/demo/conv7-G
    python -m dpfe_tf.evaluate --model_dir=runs/celeba-subset/conv7-G --seeds=3 --attackers=all

For each model: the private features of the evaluated partition (people never seen in training),
noise N(0, r C) over a grid of r, the predictor's accuracy, and every attacker's log-rank privacy,
rank statistics, top-1 and 1-NN error on the same probes, with the worst case for the defender
named; verification AUC beside them; bootstrap intervals; Acc-Priv superiority verdicts. Writes
evaluation.json, evaluation.csv and the figures to <model_dir>/evaluation (or --output_dir).
"""

from __future__ import annotations

import os

from absl import flags as absl_flags

from dpfe_tf import flags as dflags

dflags.evaluation()
dflags.output_dir("Where the report goes (default: <first model_dir>/evaluation).")
absl_flags.DEFINE_multi_string("model_dir", None, "A variant folder (<run>/<layer>-<set>: its simple/ and defence "
                               "stages) or a stage folder (extractor.keras + predictor.keras). Repeatable. "
                               "Default: runs/demo/conv7-G, what python -m dpfe_tf.train writes.")
absl_flags.DEFINE_string("data_dir", None, "CelebA-layout folder to evaluate on (default: the models' training data).")
absl_flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")
absl_flags.DEFINE_integer("limit", None, "Evaluate at most this many images.")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  from dpfe_tf import run_dir
  cfg = dflags.eval_config(F.model_dir or [run_dir.default_variant()], F.output_dir, F.data_dir)
  for path in cfg.model_dirs:  # a folder without trained models is named before TensorFlow starts
    run_dir.stages_at(path)
  return cfg


def evaluate(cfg):
  from dpfe_tf import io_utils, reports, tables
  from dpfe_tf.privacy import evaluation
  out = cfg.output_dir or os.path.join(_variant_dir(cfg.model_dirs[0]), "evaluation")
  result = evaluation.evaluate(cfg)
  with io_utils.RunLock(out):
    paths = reports.write_evaluation(result, out)
  print(tables.evaluation_report(result, paths))
  return 0


def _variant_dir(path):
  from dpfe_tf import run_dir
  return run_dir.variant_of(run_dir.stages_at(path)[0]).path


main = dflags.cli_main(configure, evaluate)


if __name__ == "__main__":
  dflags.run(main)
