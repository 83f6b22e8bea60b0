"""Collects the metrics of finished training runs into one Markdown table.

    python -m dpfe_tf.report runs/celeba-subset/original runs/celeba-subset/conv7-G ...

Runs with an ``evaluation/evaluation.json`` also get a privacy table and their verdicts.
"""

from __future__ import annotations

import json
import os

from absl import app

from dpfe_tf.data import attributes as attrs

STAGES = ("original", "simple", "dpfe")


def summary_rows(results: dict, privacy: dict | None = None) -> list[dict]:
  """One row per stage (and all 40 attributes for the original) from {stage: metrics};
  ``privacy``: stage -> its noise-0 TradeoffPoint, when evaluated."""
  privacy = privacy or {}
  rows = []
  for stage in STAGES:
    m = results.get(stage)
    if not m:
      continue
    if stage == "original":
      rows.append(dict(stage=stage, layer="-", attributes="all 40", **_acc(m["all"])))
    row = dict(stage=stage, layer=m.get("layer", "-"), attributes=attrs.set_name(m["set"]["attributes"]),
               **_acc(m["set"]))
    if stage in privacy:
      p = privacy[stage]
      row.update(log_rank_privacy=p.value("log_rank_privacy"), one_nn_error=p.value("one_nn_error"),
                 random_log_rank=next(iter(p.privacy.values())).random_log_rank)
    rows.append(row)
  return rows


def _acc(a):
  return {"accuracy": a["mean_accuracy"], "chance": a["mean_chance"], "n": a["num_images"]}


def rows_for(run_dir):
  results = {}
  for stage in STAGES:
    path = os.path.join(run_dir, stage, "metrics.json")
    if os.path.isfile(path):
      with open(path) as f:
        results[stage] = json.load(f)
  return [dict(run=run_dir, **r) for r in summary_rows(results)]


def format_summary(rows) -> str:
  """The plain-text table that ``python -m dpfe_tf.train`` ends with."""
  lines = [f"{'stage':<9} {'attributes':<12} {'accuracy':>9} {'chance':>7} {'test images':>12} "
           f"{'LRP':>6} {'1-NN err':>9}"]
  for r in rows:
    priv = (f" {r['log_rank_privacy']:>6.3f} {r['one_nn_error']:>9.3f}" if "log_rank_privacy" in r
            else f" {'-':>6} {'-':>9}")
    lines.append(f"{r['stage']:<9} {r['attributes']:<12} {r['accuracy']:>9.3f} {r['chance']:>7.3f} "
                 f"{r['n']:>12d}{priv}")
  ref = next((r["random_log_rank"] for r in rows if "random_log_rank" in r), None)
  if ref is not None:
    lines.append(f"(random-guess LRP for these identities: {ref:.3f}; 0 = identity always recovered)")
  return "\n".join(lines)


def markdown(rows):
  out = ["| run | stage | layer | attributes | accuracy | chance | test images |",
         "|---|---|---|---|---|---|---|"]
  for r in rows:
    out.append(f"| {os.path.basename(r['run'].rstrip('/'))} | {r['stage']} | {r['layer']} | "
               f"{r['attributes']} | {100 * r['accuracy']:.1f}% | {100 * r['chance']:.1f}% | {r['n']} |")
  return "\n".join(out)


def evaluation_rows(evaluation_json) -> list[dict]:
  """Noise-0 figures of each evaluated model (worst case over the attackers), with 95% intervals
  when the evaluation has them, and the superiority verdicts, from an ``evaluation.json``."""
  with open(evaluation_json) as f:
    ev = json.load(f)
  run = os.path.dirname(os.path.dirname(os.path.abspath(evaluation_json)))
  rows = []
  for c in ev["curves"]:
    p = c["points"][0]
    worst = min(p["privacy"].values(), key=lambda q: q["log_rank_privacy"])
    ci = p.get("interval_95") or {}
    rows.append(dict(run=run, model=c["name"], accuracy=p["accuracy"], accuracy_ci=ci.get("accuracy"),
                     log_rank_privacy=worst["log_rank_privacy"], log_rank_privacy_ci=ci.get("log_rank_privacy"),
                     attacker=worst["estimator"], one_nn_error=min(q["one_nn_error"] for q in p["privacy"].values()),
                     random_log_rank=worst["random_log_rank"], seeds=ev.get("seeds", 1),
                     verdicts=[_verdict(v) for v in ev.get("superiority", []) if c["name"] in (v["a"], v["b"])]))
  return rows


def _verdict(v) -> str:
  text = f"{v['measure'].replace('_', ' ')}: {v['verdict']}"
  gap = (v.get("interval") or {})
  if gap.get("first_point_log_rank_gap_ci"):
    lo, hi = gap["first_point_log_rank_gap_ci"]
    text += f"; at noise 0, {v['a']} - {v['b']}: {gap['first_point_log_rank_gap']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
  return text


def _ci(v, ci, scale=1.0, fmt=".3f"):
  text = f"{scale * v:{fmt}}"
  return text + (f" [{scale * ci[0]:{fmt}}, {scale * ci[1]:{fmt}}]" if ci else "")


def evaluation_markdown(rows) -> str:
  """One Markdown line per model (noise 0), then each run's superiority verdicts."""
  out = ["| run | model | accuracy (%) | log-rank privacy | 1-NN error | random-guess LRP | seeds |",
         "|---|---|---|---|---|---|---|"]
  for r in rows:
    out.append(f"| {os.path.basename(r['run'])} | {r['model']} | {_ci(r['accuracy'], r['accuracy_ci'], 100, '.1f')} | "
               f"{_ci(r['log_rank_privacy'], r['log_rank_privacy_ci'])} | {r['one_nn_error']:.3f} | "
               f"{r['random_log_rank']:.3f} | {r['seeds']} |")
  seen = []
  for r in rows:
    for v in r["verdicts"]:
      line = f"- {os.path.basename(r['run'])}: {v}"
      if line not in seen:
        seen.append(line)
  return "\n".join(out + [""] + seen)


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("name one or more run directories")
  rows = [r for d in argv[1:] for r in rows_for(d)]
  if not rows:
    print("no finished stage found")
    return 1
  print(markdown(rows))
  for d in argv[1:]:
    search = os.path.join(d, "dpfe", "search.json")
    if os.path.isfile(search):
      from dpfe_tf import selection
      with open(search) as f:
        result = json.load(f)
      print(f"\ny-remover search of {d} ({result['identities']} {result['partition']} identities, "
            f"{result['key']['epochs']} epochs per candidate):")
      print(selection.format_table(result))
  evaluated = [os.path.join(d, "evaluation", "evaluation.json") for d in argv[1:]]
  evaluated = [e for e in evaluated if os.path.isfile(e)]
  if evaluated:
    print("\nPrivacy at noise 0 (worst case over the attackers; [95% intervals] when evaluated with them):\n")
    print(evaluation_markdown([r for e in evaluated for r in evaluation_rows(e)]))
  return 0


if __name__ == "__main__":
  app.run(main)
