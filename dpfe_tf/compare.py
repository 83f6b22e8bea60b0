"""Which defence gives the most privacy for the accuracy you can spare: every defence on the same probes.

    python -m dpfe_tf.compare --data_dir=../shared/data/celeba-subset --layer=conv7 --attributes=G \\
        --defences=simple,dpfe,adversarial,nopeek --seeds=3 --beta=auto

Trains what is missing (the original MOON once, Simple, each defence with its weight chosen on
validation identities when --beta=auto), evaluates them all with every attacker the evaluation has
on the same probes (on --eval_data_dir if given: a user's own held-out people), and writes one
table (accuracy, worst-case log-rank privacy, the strongest attacker's top-1, verification, with
95% intervals), one plot with every defence's accuracy-privacy curve, the verdicts against DPFE,
and compare.json / compare.csv in <variant>/compare/.
"""

from __future__ import annotations

import dataclasses

from absl import flags as absl_flags

from dpfe_tf import flags as dflags

dflags.training()
dflags.evaluation()
dflags.output_dir("Run folder (default runs/<data name>).")
absl_flags.DEFINE_list("defences", ["simple", "dpfe", "adversarial", "nopeek"], "Defences to compare.")
absl_flags.DEFINE_string("eval_data_dir", None, "Evaluate on this CelebA-layout folder instead of the training "
                         "data's test partition (e.g. your own held-out people).")
absl_flags.DEFINE_string("against", "dpfe", "The verdicts compare every defence with this one.")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  """One TrainConfig per defence (checked before anything trains) and the evaluation's config."""
  from dpfe_tf import defences, run_dir
  names = list(dict.fromkeys(F.defences))
  for n in names:
    defences.get(n)
  if F.against not in names:
    raise ValueError(f"--against={F.against} is not among --defences ({', '.join(names)})")
  configs = [dflags.train_config(defence=name) for name in names]
  variant = run_dir.RunDir(configs[0].output_dir).variant(configs[0].variant)
  ecfg = dataclasses.replace(dflags.eval_config([variant.stage(n).path for n in names],
                                                output_dir=variant.report_dir("compare"), data_dir=F.eval_data_dir),
                             against=F.against)
  return configs, variant, ecfg


def compare_cli(setup):
  from dpfe_tf import io_utils, reports, tables
  from dpfe_tf.privacy import evaluation
  from dpfe_tf.training import stages
  configs, variant, ecfg = setup
  for i, cfg in enumerate(configs):
    print(f"\n=== [{i + 1}/{len(configs)}] {cfg.defence.name}: {cfg.defence.spec.summary}", flush=True)
    stages.run(cfg, stages.default_stages(cfg))
  result = evaluation.evaluate(ecfg)
  with io_utils.RunLock(ecfg.output_dir):
    paths = reports.write_evaluation(result, ecfg.output_dir, name="compare")
  print(tables.evaluation_report(result, paths))
  print("\n" + tables.markdown_evaluation(tables.evaluation_rows(variant.name, io_utils.read_json(paths["json"]))))
  return 0


main = dflags.cli_main(configure, compare_cli)


if __name__ == "__main__":
  dflags.run(main)
