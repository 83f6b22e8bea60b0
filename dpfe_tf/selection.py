"""Choosing the y-remover's weight (beta) and margin on validation identities (``--beta=auto``).

On a batch-normalised code the mean squared distance of two features is fixed near 2 x dim,
so the reference defaults (beta 0.01, margin 10 for dim 10) leave the hinge always active
and barely move the features. As the paper did, choose on held-out identities: for every
candidate, fine-tune from the same Simple model for a few epochs, measure attribute accuracy
and log-rank privacy (worst of the KDE and classifier attackers, every kept image a probe
once) on the **validation** partition, and keep the most private candidate whose accuracy is
within ``tolerance`` of Simple's. Margins are given relative to sqrt(2 x dim).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil

import numpy as np

from dpfe_tf import accuracy, io_utils
from dpfe_tf.privacy import measures

DEFAULT_BETAS = (0.01, 0.1, 0.3, 1.0)
DEFAULT_MARGINS_REL = (1.0, 1.5, math.sqrt(5.0))  # sqrt(5) * sqrt(2 * 10) = 10, the reference margin


def margin_scale(dim: int) -> float:
  """The typical distance of two batch-normalised codes: sqrt(2 x dim)."""
  return math.sqrt(2.0 * dim)


@dataclasses.dataclass
class Candidate:
  beta: float
  margin: float
  margin_rel: float
  accuracy: float | None = None
  log_rank_privacy: float | None = None
  eligible: bool | None = None
  accuracy_gap_se: float | None = None  # paired standard error of (candidate - Simple) accuracy


def validation_scores(split, val, attr_idx, names, min_images, seed=0):
  """(mean attribute accuracy, worst-case log-rank privacy, per-image fraction of attributes
  right) of a split model on ``val``."""
  from dpfe_tf.data import pipeline
  f = split.extractor.predict(pipeline.image_batches(val.images, 256), verbose=0)
  logits = split.predictor.predict(f, verbose=0, batch_size=1024)
  labels = val.attributes[:, attr_idx]
  acc = accuracy.attribute_accuracy(logits, labels, names)["mean_accuracy"]
  lrp = min(measures.pooled_privacy(f, val.identities, e, min_images, seed=seed, rotate=True).log_rank_privacy
            for e in ("kde", "classifier"))
  return acc, lrp, ((logits > 0) == (labels > 0)).mean(axis=1)


def paired_se(a, b) -> float:
  """Standard error of mean(a) - mean(b) over the same images."""
  d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def choose(simple_accuracy: float, candidates: list[Candidate], tolerance: float):
  """The most private candidate with accuracy >= Simple's - tolerance, and why."""
  for c in candidates:
    c.eligible = c.accuracy >= simple_accuracy - tolerance
  ok = [c for c in candidates if c.eligible]
  if ok:
    best = max(ok, key=lambda c: (c.log_rank_privacy, c.accuracy))
    why = (f"most private of the {len(ok)} candidates whose validation accuracy is within "
           f"{100 * tolerance:.1f} points of Simple's ({100 * simple_accuracy:.1f}%)")
  else:
    best = max(candidates, key=lambda c: c.accuracy)
    why = (f"no candidate kept its validation accuracy within {100 * tolerance:.1f} points of "
           f"Simple's ({100 * simple_accuracy:.1f}%): the most accurate one was taken")
  return best, why


def search(cfg, data, fit_candidate, split_of_simple, out_dir) -> dict:
  """Runs the search; ``fit_candidate(beta, margin, stage) -> SplitModel`` trains one candidate."""
  from dpfe_tf.data import attributes as attrs
  path = os.path.join(out_dir, "search.json")
  attr_idx = attrs.attribute_indices(cfg.attribute_names)
  betas = cfg.beta_candidates if cfg.beta == "auto" else (float(cfg.beta),)
  scale = margin_scale(cfg.feature_dim)
  rels = cfg.margin_candidates if cfg.margin == "auto" else (float(cfg.margin) / scale,)
  key = {"betas": list(betas), "margins_rel": list(rels), "epochs": cfg.search_epochs,
         "tolerance": cfg.accuracy_tolerance, "min_images": cfg.min_images}
  if os.path.isfile(path):
    saved = io_utils.read_json(path)
    if saved.get("key") == key:
      print(f"  y-remover search: reusing {path}", flush=True)
      return saved
  simple_acc, simple_lrp, simple_right = validation_scores(split_of_simple(), data.val, attr_idx, cfg.attribute_names,
                                             cfg.min_images, cfg.seed)
  cands = [Candidate(b, r * scale, r) for b in betas for r in rels]
  bar = io_utils.progress(len(cands), f"  y-remover search on validation identities: {len(cands)} "
                          f"candidates x {cfg.search_epochs} epochs")
  for c in cands:
    stage = os.path.join("dpfe_search", f"beta{c.beta:g}_margin{c.margin_rel:.3g}")
    split = fit_candidate(c.beta, c.margin, stage)
    c.accuracy, c.log_rank_privacy, right = validation_scores(split, data.val, attr_idx, cfg.attribute_names,
                                                              cfg.min_images, cfg.seed)
    c.accuracy_gap_se = paired_se(right, simple_right)
    shutil.rmtree(os.path.join(cfg.output_dir, stage), ignore_errors=True)
    bar.add(1)
  try:
    os.rmdir(os.path.join(cfg.output_dir, "dpfe_search"))
  except OSError:
    pass
  best, why = choose(simple_acc, cands, cfg.accuracy_tolerance)
  se = float(np.median([c.accuracy_gap_se for c in cands]))
  if se > cfg.accuracy_tolerance / 2:
    why += (f"; note: on these {len(data.val)} validation images an accuracy gap has a standard error of "
            f"about {100 * se:.1f} points, so a {100 * cfg.accuracy_tolerance:.1f}-point tolerance is within noise")
  result = {"key": key, "simple": {"accuracy": simple_acc, "log_rank_privacy": simple_lrp},
            "candidates": [dataclasses.asdict(c) for c in cands],
            "chosen": {"beta": best.beta, "margin": best.margin, "margin_rel": best.margin_rel},
            "why": why, "partition": "val", "identities": int(data.val.num_identities)}
  io_utils.write_json(path, result)
  from dpfe_tf import plots
  plots.search(result, os.path.join(out_dir, "search.png"))
  print(format_table(result), flush=True)
  return result


def format_table(result) -> str:
  lines = [f"  {'beta':>6} {'margin':>7} {'(x sqrt(2d))':>12} {'val accuracy':>13} {'gap s.e.':>9} "
           f"{'val LRP':>8}  eligible",
           f"  {'Simple':>6} {'':>7} {'':>12} {result['simple']['accuracy']:>13.3f} "
           f"{'':>9} {result['simple']['log_rank_privacy']:>8.3f}"]
  for c in result["candidates"]:
    mark = " <- chosen" if (c["beta"], c["margin"]) == (result["chosen"]["beta"], result["chosen"]["margin"]) else ""
    se = "-" if c.get("accuracy_gap_se") is None else f"{c['accuracy_gap_se']:.3f}"
    lines.append(f"  {c['beta']:>6g} {c['margin']:>7.2f} {c['margin_rel']:>12.2f} {c['accuracy']:>13.3f} "
                 f"{se:>9} {c['log_rank_privacy']:>8.3f}  {'yes' if c['eligible'] else 'no'}{mark}")
  lines.append(f"  chosen: beta {result['chosen']['beta']:g}, margin {result['chosen']['margin']:.2f}: {result['why']}")
  return "\n".join(lines)


def candidates_from(text: str) -> tuple:
  vals = tuple(float(v) for v in str(text).split(",") if v.strip())
  if not vals or any(v <= 0 for v in vals):
    raise ValueError(f"candidates must be positive numbers, got {text!r}")
  return vals


def as_float_or_auto(value, name):
  if isinstance(value, str) and value.strip().lower() == "auto":
    return "auto"
  try:
    return float(value)
  except (TypeError, ValueError):
    raise ValueError(f"--{name} must be a number or 'auto', got {value!r}") from None


