"""Collects the metrics of finished training runs into one Markdown table.

    python -m dpfe_tf.report runs/celeba-subset/original runs/celeba-subset/conv7-G ...
"""

from __future__ import annotations

import json
import os

from absl import app

from dpfe_tf.data import attributes as attrs

STAGES = ("original", "simple", "dpfe")


def rows_for(run_dir):
  rows = []
  for stage in STAGES:
    path = os.path.join(run_dir, stage, "metrics.json")
    if not os.path.isfile(path):
      continue
    with open(path) as f:
      m = json.load(f)
    if stage == "original":
      rows.append(dict(run=run_dir, stage=stage, layer="-", attributes="all 40", **_acc(m["all"])))
    rows.append(dict(run=run_dir, stage=stage, layer=m.get("layer", "-"),
                     attributes=attrs.set_name(m["set"]["attributes"]), **_acc(m["set"])))
  return rows


def _acc(a):
  return {"accuracy": a["mean_accuracy"], "chance": a["mean_chance"], "n": a["num_images"]}


def markdown(rows):
  out = ["| run | stage | layer | attributes | accuracy | chance | test images |",
         "|---|---|---|---|---|---|---|"]
  for r in rows:
    out.append(f"| {os.path.basename(r['run'].rstrip('/'))} | {r['stage']} | {r['layer']} | "
               f"{r['attributes']} | {100 * r['accuracy']:.1f}% | {100 * r['chance']:.1f}% | {r['n']} |")
  return "\n".join(out)


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("name one or more run directories")
  rows = [r for d in argv[1:] for r in rows_for(d)]
  if not rows:
    print("no finished stage found")
    return 1
  print(markdown(rows))
  return 0


if __name__ == "__main__":
  app.run(main)
