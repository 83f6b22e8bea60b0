"""Text and Markdown tables of results (presentation only: nothing is computed here)."""

from __future__ import annotations

import os

from dpfe_tf.data import attributes as attrs


def _acc(a):
  return {"accuracy": a["mean_accuracy"], "chance": a["mean_chance"], "n": a["num_images"]}


def summary_rows(results: dict, privacy: dict | None = None) -> list[dict]:
  """One row per stage (and all 40 attributes for the original) from {stage: metrics};
  ``privacy``: stage -> its noise-0 ``TradeoffPoint``, when evaluated."""
  privacy = privacy or {}
  rows = []
  for stage, m in results.items():
    if not m:
      continue
    if stage == "original":
      rows.append(dict(stage=stage, layer="-", attributes="all 40", **_acc(m["all"])))
    row = dict(stage=stage, layer=m.get("layer", "-"), attributes=attrs.set_name(m["set"]["attributes"]),
               **_acc(m["set"]))
    if stage in privacy and privacy[stage].privacy:
      p = privacy[stage]
      lrp, who = p.worst("log_rank_privacy")
      top1, top1_who = p.worst("top1")
      row.update(log_rank_privacy=lrp, attacker=who, top1=top1, top1_attacker=top1_who,
                 one_nn_error=next(iter(p.privacy.values())).one_nn_error,
                 random_log_rank=next(iter(p.privacy.values())).random_log_rank)
    rows.append(row)
  return rows


def format_summary(rows) -> str:
  """The table ``python -m dpfe_tf.train`` ends with."""
  lines = [f"{'stage':<12} {'attributes':<10} {'accuracy':>9} {'chance':>7} {'test images':>12} "
           f"{'LRP':>6} {'worst attacker':<15} {'top-1':>6} {'1-NN err':>9}"]
  for r in rows:
    priv = (f" {r['log_rank_privacy']:>6.3f} {r['attacker']:<15} {r['top1']:>6.3f} {r['one_nn_error']:>9.3f}"
            if "log_rank_privacy" in r else f" {'-':>6} {'':<15} {'-':>6} {'-':>9}")
    lines.append(f"{r['stage']:<12} {r['attributes']:<10} {r['accuracy']:>9.3f} {r['chance']:>7.3f} "
                 f"{r['n']:>12d}{priv}")
  ref = next((r["random_log_rank"] for r in rows if "random_log_rank" in r), None)
  if ref is not None:
    lines.append(f"(LRP: log-rank privacy at noise 0 under the worst attacker, named; random guess {ref:.3f}, "
                 "0 = identity always recovered. top-1: the strongest attacker's identification rate.)")
  return "\n".join(lines)


def timing_line(results: dict, evaluation_seconds: float | None, total_seconds: float) -> str:
  """Where a ``train`` run's wall time went: each stage trained in it (or reused), the evaluation."""
  from dpfe_tf.io_utils import duration
  parts = [f"{name} reused" if m.get("reused") else f"{name} {duration(m['seconds'])}"
           for name, m in results.items() if m]
  if evaluation_seconds is not None:
    parts.append(f"evaluation {duration(evaluation_seconds)}")
  return f"Done in {duration(total_seconds)}" + (f": {', '.join(parts)}; start-up and data the rest" if parts else "")


def evaluation_table(curves) -> str:
  """Every noise level of every model: accuracy, each attacker's log-rank privacy, the worst case."""
  names = list(dict.fromkeys(a for c in curves for p in c.points for a in p.privacy))
  head = (f"{'model':<14} {'r':>5} {'accuracy':>9} " + " ".join(f"{a[:12]:>12}" for a in names) +
          f"  {'worst':>6} {'by':<14} {'top-1':>6} {'1-NN err':>9} {'verif AUC':>9}")
  lines = ["log-rank privacy per attacker (lower = more identity leaked):", head]
  for c in curves:
    for p in c.points:
      cells = " ".join(f"{p.privacy[a].log_rank_privacy:>12.3f}" if a in p.privacy else f"{'-':>12}" for a in names)
      lrp, who = p.worst("log_rank_privacy")
      top1, _ = p.worst("top1")
      nn = next(iter(p.privacy.values())).one_nn_error
      auc = f"{p.verification.auc:>9.3f}" if p.verification is not None else f"{'-':>9}"
      lines.append(f"{c.name:<14} {p.r:>5g} {p.accuracy:>9.3f} {cells}  {lrp:>6.3f} {who:<14} {top1:>6.3f} "
                   f"{nn:>9.3f} {auc}")
  first = next(iter(curves[0].points[0].privacy.values()))
  lines.append(f"random guess: log-rank privacy {first.random_log_rank:.3f}, top-1 {1 / first.K:.3f}, 1-NN error "
               f"{1 - 1 / first.K:.3f}, verification AUC 0.5 (K = {first.K} identities, {first.n_probe} probes)")
  if curves[0].chance is not None:
    lines.append(f"constant guess: accuracy {curves[0].chance:.3f} (each attribute's majority class on the "
                 "evaluated images; the Acc-Priv verdicts are judged above it)")
  return "\n".join(lines)


def guarantee_line(curves) -> str:
  from dpfe_tf.plots import _paper_attacker
  who = _paper_attacker(curves)
  parts = []
  for c in curves:
    p = c.points[0]
    res = p.privacy[who if who != "worst" else p.worst()[1]]
    parts.append(f"{c.name} " + ", ".join(f"t={t}: {v:.2f}" for t, v in res.guarantee.items()))
  return f"rank guarantee at noise 0, P(rank/K > t) ({who}): " + "; ".join(parts)


def intervals_table(curves, point_ci) -> str:
  lines = ["noise 0, bootstrap 95% intervals (worst case over the attackers, re-chosen in each resample):"]
  for c in curves:
    ci, p = point_ci[c.name][0], c.points[0]
    if ci is None:
      continue
    lrp, who = p.worst("log_rank_privacy")
    top1, top_who = p.worst("top1")
    ver = "" if p.verification is None else (
        f"; verification AUC {p.verification.auc:.3f}, TAR@1%FAR {p.verification.tar_at_far.get('0.01', float('nan')):.3f}")
    lines.append(f"  {c.name:<12} accuracy {p.accuracy:.3f} [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]"
                 f"  log-rank privacy {lrp:.3f} [{ci['log_rank_privacy'][0]:.3f}, {ci['log_rank_privacy'][1]:.3f}]"
                 f" ({who})  top-1 {top1:.3f} [{ci['top1'][0]:.3f}, {ci['top1'][1]:.3f}] ({top_who}){ver}")
    if ci.get("across_seeds"):
      a = ci["across_seeds"]
      lines.append(f"  {'':<12} across the {a['log_rank_privacy']['n']} seeds: accuracy "
                   f"{across_seeds_text(a['accuracy'], '.3f')}  log-rank privacy "
                   f"{across_seeds_text(a['log_rank_privacy'], '.3f')}")
  return "\n".join(lines)


def across_seeds_text(a: dict, fmt: str = "+.3f") -> str:
  """An ``intervals.across_seeds`` result in words: mean [t interval] (each seed's figure)."""
  lo, hi = a["interval"]
  return (f"{a['mean']:{fmt}} [{lo:{fmt}}, {hi:{fmt}}] (t, {a['n'] - 1} df; seeds "
          + ", ".join(f"{v:{fmt}}" for v in a["per_seed"]) + ")")


def verdict_lines(verdicts) -> list[str]:
  out = []
  for v in verdicts:
    gap = "" if v["mean_gap"] is None else (
        f" (mean gap {v['a']} - {v['b']}: {v['mean_gap']:+.3f}, min {v['min_gap']:+.3f}, max {v['max_gap']:+.3f}, "
        f"over accuracy {v['accuracy_range'][0]:.3f}-{v['accuracy_range'][1]:.3f})")
    interval = (v.get("interval") or {})
    first = ""
    if interval.get("first_point_log_rank_gap_ci"):
      lo, hi = interval["first_point_log_rank_gap_ci"]
      first = f"; at noise 0 {v['a']} - {v['b']}: {interval['first_point_log_rank_gap']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    out.append(f"{v['measure'].replace('_', ' ')}: {v['verdict']}{gap}{first}")
    if interval.get("across_seeds"):
      a = interval["across_seeds"]
      each = ("each its own original MOON, Simple and defence" if a.get("retrained") == "original"
              else "each its own Simple and defence, one original MOON")
      out.append(f"  at noise 0 across the {a['n']} seeds ({each}; the worst attacker chosen on each): "
                 f"{v['a']} - {v['b']} {across_seeds_text(a)}, "
                 + ("excludes zero" if a["excludes_zero"] else "includes zero"))
    out += [f"  {what}: {operating_point_gaps(o)}" for what, o in (v.get("operating_point") or {}).items()]
  return out


def operating_point_gaps(o: dict) -> str:
  """An ``intervals.point_gap`` result in words: both gaps with their intervals."""
  (alo, ahi), (lo, hi) = o["accuracy_gap_ci"], o["log_rank_gap_ci"]
  return (f"accuracy {100 * o['accuracy_gap']:+.1f} points [{100 * alo:+.1f}, {100 * ahi:+.1f}], "
          f"log-rank privacy {o['log_rank_gap']:+.3f} [{lo:+.3f}, {hi:+.3f}]")


def evaluation_report(result, paths) -> str:
  lines = [evaluation_table(result.curves), guarantee_line(result.curves),
           intervals_table(result.curves, result.point_ci), *verdict_lines(result.verdicts)]
  lines += [f"note: {n}" for n in result.notes]
  if result.meta.get("face_recogniser_ceiling"):
    lines.append(ceiling_line(result.meta["face_recogniser_ceiling"]))
  lines.append("report: " + ", ".join(os.path.basename(p) for p in paths.values()) + f" in {os.path.dirname(next(iter(paths.values())))}")
  return "\n".join(lines)


def ceiling_line(c: dict) -> str:
  return (f"face recogniser on the probes' own real photos (the ceiling of a photo-based attacker): log-rank "
          f"privacy {c['log_rank_privacy']:.3f}, top-1 {c['top1']:.3f} (random {c['random_log_rank']:.3f}, "
          f"K = {c['K']}, {c['probes']} probes)")


def search_table(result) -> str:
  margins = any(c.get("margin") is not None for c in result["candidates"])
  mhead = f" {'margin':>7} {'(x sqrt(2d))':>12}" if margins else ""
  where = "val" if result.get("partition", "val") == "val" else "CV"  # validation people or training folds
  lines = [f"  {'beta':>6}{mhead} {where + ' accuracy':>13} {'gap s.e.':>9} {where + ' LRP':>8}  eligible",
           f"  {'Simple':>6}{' ' * len(mhead)} {result['simple']['accuracy']:>13.3f} {'':>9} "
           f"{result['simple']['log_rank_privacy']:>8.3f}"]
  for c in result["candidates"]:
    chosen = (c["beta"], c.get("margin")) == (result["chosen"]["beta"], result["chosen"].get("margin"))
    se = "-" if c.get("accuracy_gap_se") is None else f"{c['accuracy_gap_se']:.3f}"
    m = f" {c['margin']:>7.2f} {c['margin_rel']:>12.2f}" if margins else ""
    lines.append(f"  {c['beta']:>6g}{m} {c['accuracy']:>13.3f} {se:>9} {c['log_rank_privacy']:>8.3f}  "
                 f"{'yes' if c['eligible'] else 'no'}{' <- chosen' if chosen else ''}")
  m = "" if result["chosen"].get("margin") is None else f", margin {result['chosen']['margin']:.2f}"
  lines.append(f"  chosen: beta {result['chosen']['beta']:g}{m}: {result['why']}")
  return "\n".join(lines)


def operating_point_table(result: dict) -> str:
  """The accuracies behind an operating-noise choice, one row per noise level."""
  lines = [f"  operating noise of {result['defence']} ({result['noise_shape']} noise) on {result['where']}: "
           f"{result['identities']} identities, {result['images']} images",
           f"  {'r':>6} {'Simple':>8} {result['defence']:>12} {'gap vs Simple at 0':>19} {'s.e.':>6}"]
  s0 = result["simple"]["0"]
  for r, a in result["defended"].items():
    mark = " <- chosen" if result["noise"] is not None and float(r) == result["noise"] else ""
    lines.append(f"  {r:>6} {100 * result['simple'][r]:>7.1f}% {100 * a:>11.1f}% {100 * (a - s0):>+18.1f}  "
                 f"{100 * result['gap_se'][r]:>5.1f}{mark}")
  chosen = "none" if result["noise"] is None else f"r = {result['noise']:g}"
  lines.append(f"  chosen: {chosen}: {result['why']}")
  return "\n".join(lines)


def markdown_stages(rows) -> str:
  out = ["| run | stage | layer | attributes | accuracy | chance | test images |", "|---|---|---|---|---|---|---|"]
  for r in rows:
    out.append(f"| {r['run']} | {r['stage']} | {r['layer']} | {r['attributes']} | {100 * r['accuracy']:.1f}% | "
               f"{100 * r['chance']:.1f}% | {r['n']} |")
  return "\n".join(out)


def _ci(v, ci, scale=1.0, fmt=".3f", sign=""):
  text = f"{scale * v:{sign}{fmt}}"
  return text + (f" [{scale * ci[0]:{sign}{fmt}}, {scale * ci[1]:{sign}{fmt}}]" if ci else "")


def evaluation_rows(run: str, ev: dict) -> list[dict]:
  """Noise-0 figures of each model of an ``evaluation.json`` (worst case over the attackers, named)."""
  rows = []
  for c in ev["curves"]:
    p = c["points"][0]
    worst = p.get("worst") or {}
    ci = p.get("interval_95") or {}
    rows.append(dict(run=run, model=c["name"], accuracy=p["accuracy"], accuracy_ci=ci.get("accuracy"),
                     log_rank_privacy=worst.get("log_rank_privacy"), log_rank_privacy_ci=ci.get("log_rank_privacy"),
                     attacker=worst.get("attacker"), top1=worst.get("top1"), top1_ci=ci.get("top1"),
                     top1_attacker=worst.get("top1_attacker"),
                     per_attacker={a: q["log_rank_privacy"] for a, q in p["privacy"].items()},
                     random_log_rank=next(iter(p["privacy"].values()))["random_log_rank"] if p["privacy"] else None,
                     verification=p.get("verification"), seeds=seeds_text(ev),
                     verdicts=[v for v in ev.get("superiority", []) if v["measure"] == "log_rank_privacy"
                               and c["name"] in (v["a"], v["b"])]))
  return rows


def seeds_text(ev: dict) -> str:
  """How many seeds an evaluation pooled, and whether each trained its own original MOON."""
  n = ev.get("seeds", 1)
  return f"{n}, each its own original MOON" if n > 1 and ev.get("seeds_retrain") == "original" else str(n)


def markdown_evaluation(rows) -> str:
  """One Markdown line per model (noise 0), then each run's superiority verdicts."""
  out = ["| run | model | accuracy (%) | worst-case log-rank privacy | by | top-1 | by | verification AUC | seeds |",
         "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    auc = "-" if not r["verification"] else f"{r['verification']['auc']:.3f}"
    out.append(f"| {r['run']} | {r['model']} | {_ci(r['accuracy'], r['accuracy_ci'], 100, '.1f')} | "
               f"{_ci(r['log_rank_privacy'], r['log_rank_privacy_ci'])} | {r['attacker']} | "
               f"{_ci(r['top1'], r['top1_ci'])} | {r['top1_attacker']} | {auc} | {r['seeds']} |")
  seen = []
  for r in rows:
    for line in verdict_lines(r["verdicts"]):
      line = f"- {r['run']}: {line}"
      if line not in seen:
        seen.append(line)
  return "\n".join(out + [""] + seen)


def markdown_attackers(run: str, ev: dict, point: int = 0) -> str:
  """Every attacker's log-rank privacy and top-1 (with 95% intervals) for each model of an
  ``evaluation.json`` at one noise level, and the worst case: who is the strongest adversary."""
  names = list(dict.fromkeys(a for c in ev["curves"] for a in c["points"][point]["privacy"]))
  r = ev["curves"][0]["points"][point]["r"]
  out = [f"| {run}, r = {r:g} | " + " | ".join(names) + " | worst case |",
         "|---|" + "---|" * (len(names) + 1)]
  for c in ev["curves"]:
    p = c["points"][point]
    each = (p.get("interval_95") or {}).get("per_attacker", {})
    cells = []
    for a in names:
      if a not in p["privacy"]:
        cells.append("-")
        continue
      q, ci = p["privacy"][a], each.get(a, {})
      cells.append(f"{_ci(q['log_rank_privacy'], ci.get('log_rank_privacy'))} / {_ci(q['top1'], ci.get('top1'))}")
    w, wci = p["worst"], p.get("interval_95") or {}
    cells.append(f"**{_ci(w['log_rank_privacy'], wci.get('log_rank_privacy'))}** ({w['attacker']}) / "
                 f"{_ci(w['top1'], wci.get('top1'))} ({w['top1_attacker']})")
    out.append(f"| {c['name']} | " + " | ".join(cells) + " |")
  first = next(iter(ev["curves"][0]["points"][point]["privacy"].values()))
  out.append(f"\nCells: log-rank privacy / top-1 [95% intervals]; random guess {first['random_log_rank']:.3f} / "
             f"{1 / first['K']:.3f} (K = {first['K']}, {first['n_probe']} probes).")
  return "\n".join(out)
