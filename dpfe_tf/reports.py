"""The files a report folder holds (evaluation/, compare/): JSON, CSV and figures."""

from __future__ import annotations

import csv
import os

from dpfe_tf import io_utils, plots

FIGURES = {"log_rank": "accuracy_vs_log_rank_privacy.png", "top1": "accuracy_vs_top1.png",
           "one_nn": "accuracy_vs_1nn_privacy.png", "rank": "rank_mean_std.png",
           "guarantee": "rank_guarantee.png", "attackers": "attackers_at_noise0.png"}


def curves_json(result) -> list[dict]:
  out = []
  for c in result.curves:
    d = c.as_dict()
    for p, ci in zip(d["points"], result.point_ci.get(c.name, [])):
      if ci is not None:
        p["interval_95"] = ci
    out.append(d)
  return out


def write_csv(path, rows):
  with io_utils.atomic_path(path, ".csv") as tmp:
    with open(tmp, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(rows[0]))
      w.writeheader()
      w.writerows(rows)


def csv_rows(curves) -> list[dict]:
  """One row per model, noise level and attacker."""
  rows = []
  for c in curves:
    for p in c.points:
      for name, res in p.privacy.items():
        d = res.as_dict()
        rows.append({"model": c.name, "r": p.r, "accuracy": p.accuracy, "attacker": name,
                     **{k: d[k] for k in ("log_rank_privacy", "top1", "rank_mean", "rank_std", "one_nn_error",
                                          "K", "n_probe", "random_log_rank")}})
      if p.verification is not None:
        rows.append({"model": c.name, "r": p.r, "accuracy": p.accuracy, "attacker": "verification",
                     "log_rank_privacy": None, "top1": None, "rank_mean": None, "rank_std": None,
                     "one_nn_error": None, "K": None, "n_probe": p.verification.n_same + p.verification.n_different,
                     "random_log_rank": None, "auc": p.verification.auc,
                     "tar_at_1pct_far": p.verification.tar_at_far.get("0.01")})
  keys = list(dict.fromkeys(k for r in rows for k in r))
  return [{k: r.get(k) for k in keys} for r in rows]


def write_evaluation(result, output_dir, name="evaluation") -> dict:
  """``<name>.json`` (every point, every attacker, intervals, verdicts), ``<name>.csv`` and the figures."""
  os.makedirs(output_dir, exist_ok=True)
  io_utils.write_json(os.path.join(output_dir, f"{name}.json"),
                      {**result.meta, "curves": curves_json(result), "superiority": result.verdicts})
  write_csv(os.path.join(output_dir, f"{name}.csv"), csv_rows(result.curves))
  paths = {k: os.path.join(output_dir, v) for k, v in FIGURES.items()}
  plots.accuracy_vs_privacy(result.curves, "log_rank_privacy", paths["log_rank"])
  plots.accuracy_vs_privacy(result.curves, "top1", paths["top1"])
  plots.accuracy_vs_privacy(result.curves, "one_nn_error", paths["one_nn"])
  plots.rank_mean_std(result.curves, paths["rank"])
  plots.rank_guarantee(result.curves, paths["guarantee"])
  plots.attackers_at_noise0(result.curves, paths["attackers"])
  return {"json": os.path.join(output_dir, f"{name}.json"), "csv": os.path.join(output_dir, f"{name}.csv"), **paths}
