"""The paper's accuracy-privacy-complexity choice (Section 6.4) as one table, per cut layer.

    python experiments/layer_choice.py runs/celeba-subset [--set=G] [--stage=dpfe]

For each layer whose <layer>-<set> variant has an evaluation (its attacks/ or evaluation/ folder)
and an exported int8 extractor (``python -m dpfe_tf.export --forms=int8``): the stage's accuracy
and worst-case log-rank privacy at noise 0, Simple's and the gap, beside the int8 extractor's size
and LiteRT host latency (``dpfe_tf.layer_choice``).
"""

import sys

from absl import app, flags

flags.DEFINE_string("set", "G", "Attribute set of the variants.")
flags.DEFINE_string("stage", "dpfe", "Stage whose extractor is compared.")
flags.DEFINE_integer("runs", 50, "Timed LiteRT runs per extractor.")
F = flags.FLAGS


def main(argv):
  from dpfe_tf import layer_choice
  if len(argv) != 2:
    raise app.UsageError("name the run folder")
  rows = layer_choice.rows(argv[1], F.set, F.stage, log=lambda m: print(m, file=sys.stderr), runs=F.runs)
  print(layer_choice.markdown(rows, F.stage))


if __name__ == "__main__":
  app.run(main)
