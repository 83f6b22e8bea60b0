"""The paper's accuracy-privacy-complexity choice (Section 6.4) as one table, per cut layer.

    python experiments/layer_choice.py runs/celeba-subset [--set=G] [--stage=dpfe]

For each layer whose <layer>-<set> variant has an evaluation and an exported int8 extractor: the
stage's accuracy and worst-case log-rank privacy at noise 0 (with their 95% intervals and the
attacker), beside the int8 extractor's size and its LiteRT host latency (one thread, measured here,
side by side), so a user picks a layer by what they can afford.
"""

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("set", "G", "Attribute set of the variants.")
flags.DEFINE_string("stage", "dpfe", "Stage whose extractor is compared.")
flags.DEFINE_integer("runs", 50, "Timed LiteRT runs per extractor.")
F = flags.FLAGS
LAYERS = ("conv4_2", "conv5_1", "conv6_1", "conv7")


def main(argv):
  from dpfe_tf.mobile import host_benchmark
  if len(argv) != 2:
    raise app.UsageError("name the run folder")
  rows = []
  for layer in LAYERS:
    variant = os.path.join(argv[1], f"{layer}-{F.set}")
    ev_path = os.path.join(variant, "evaluation", "evaluation.json")
    tfl = os.path.join(variant, F.stage, "tflite", f"extractor_{layer}_int8.tflite")
    if not (os.path.isfile(ev_path) and os.path.isfile(tfl)):
      print(f"skip {layer}: no evaluation or no int8 export in {variant}", file=sys.stderr)
      continue
    ev = json.load(open(ev_path))
    curve = next(c for c in ev["curves"] if c["name"] == F.stage)
    p = curve["points"][0]
    ci = p.get("interval_95") or {}
    rec = host_benchmark.benchmark(tfl, threads=1, warmup=5, runs=F.runs)
    rows.append((layer, p["accuracy"], ci.get("accuracy"), p["worst"]["log_rank_privacy"], ci.get("log_rank_privacy"),
                 p["worst"]["attacker"], os.path.getsize(tfl), rec.inference_avg_us, ev.get("seeds", 1)))
  print(f"| layer | {F.stage} accuracy | worst-case log-rank privacy (attacker) | int8 extractor | host latency "
        "(LiteRT, 1 thread) | seeds |")
  print("|---|---|---|---|---|---|")
  for layer, acc, aci, lrp, lci, who, size, us, seeds in rows:
    a = f"{100 * acc:.1f}%" + (f" [{100 * aci[0]:.1f}, {100 * aci[1]:.1f}]" if aci else "")
    l = f"{lrp:.3f}" + (f" [{lci[0]:.3f}, {lci[1]:.3f}]" if lci else "")
    print(f"| {layer} | {a} | {l} ({who}) | {size / 1e6:.2f} MB | {us / 1000:.2f} ms | {seeds} |")


if __name__ == "__main__":
  app.run(main)
