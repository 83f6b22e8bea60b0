"""How private could the feature be? The attribute labels alone as the feature, beside the measured models.

    python experiments/label_ceiling.py runs/celeba-subset/conv7-G [--seeds=3] [--plot=FILE.png]

A feature is never more private (against the best attacker) than the attribute predictions the
cloud makes from it; the most private predictions of a given accuracy are the labels flipped at
random. This prints the worst-case log-rank privacy of that reference (same attackers, probes and
seeds as the variant's evaluation) at 100% and at each model's measured accuracy, beside the
measured Simple and DPFE and the +0.15 target (``dpfe_tf.privacy.label_ceiling``).
"""

import sys

from absl import app, flags

from dpfe_tf import flags as dpfe_flags

flags.DEFINE_integer("seeds", None, "Seeds (default: the evaluation's).")
flags.DEFINE_list("stages", ["simple", "dpfe"], "Measured stages to place beside the references.")
dpfe_flags.min_images()  # the evaluation's
flags.DEFINE_string("plot", None, "Also draw the stages' trade-off curves beside the labels-only frontier here (png).")
F = flags.FLAGS


def main(argv):
  from dpfe_tf.privacy import label_ceiling
  if len(argv) != 2:
    raise app.UsageError("name the variant folder, e.g. runs/celeba-subset/conv7-G")
  result = label_ceiling.for_variant(argv[1], F.seeds, tuple(F.stages), min_images=F.min_images,
                                     log=lambda m: print(m, file=sys.stderr))
  print(f"{result.setting}; measured: {result.evaluation}")
  print(label_ceiling.markdown(result.rows))
  print("\nthe labels-only frontier:\n" + label_ceiling.markdown(result.frontier))
  if F.plot:
    from dpfe_tf import plots
    plots.label_frontier(result, F.plot)
    print(f"plot: {F.plot}")


if __name__ == "__main__":
  app.run(main)
