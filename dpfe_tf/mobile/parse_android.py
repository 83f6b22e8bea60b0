"""Turns saved benchmark_model outputs (one <model>.txt per exported model) into the tables.

    python -m dpfe_tf.mobile.parse_android tflite/results/          (written by tflite/run_on_android.sh)
"""

import glob
import os
import sys

from dpfe_tf.mobile import benchmark_output, table


def main(argv):
  if len(argv) != 2 or not os.path.isdir(argv[1]):
    print("usage: python -m dpfe_tf.mobile.parse_android RESULTS_DIR", file=sys.stderr)
    return 2
  files = sorted(glob.glob(os.path.join(argv[1], "*.txt")))
  if not files:
    print(f"no *.txt benchmark outputs in {argv[1]}", file=sys.stderr)
    return 2
  records = {}
  for f in files:
    with open(f, errors="replace") as fh:
      records[f] = benchmark_output.parse(fh.read())
  print(table.per_model(records))
  print()
  print(table.figure_11(records))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
