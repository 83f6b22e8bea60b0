"""Accuracy-privacy trade-off curves (Procedure 2) and Acc-Priv superiority (Definition 11)."""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf import accuracy, noise
from dpfe_tf.privacy import measures

@dataclasses.dataclass
class TradeoffPoint:
  r: float
  accuracy: float                 # mean over the attribute set
  per_attribute: dict
  privacy: dict                   # estimator -> PrivacyResult
  correct: np.ndarray = dataclasses.field(default=None, repr=False)  # per sample, mean over attributes

  def value(self, measure: str, estimator: str = "worst") -> float:
    """A privacy measure; ``worst`` takes the estimator that leaves the defender least private."""
    if estimator == "worst":
      return min(getattr(p, measure) for p in self.privacy.values())
    return getattr(self.privacy[estimator], measure)


@dataclasses.dataclass
class Curve:
  name: str
  points: list
  attributes: list
  n_samples: int
  split: dict

  def arrays(self, measure="log_rank_privacy", estimator="worst"):
    acc = np.array([p.accuracy for p in self.points])
    priv = np.array([p.value(measure, estimator) for p in self.points])
    return acc, priv

  def as_dict(self, with_ranks=False):
    return {"name": self.name, "attributes": self.attributes, "n_samples": self.n_samples,
            "split": self.split,
            "points": [{"r": p.r, "accuracy": p.accuracy, "per_attribute": p.per_attribute,
                        "privacy": {k: v.as_dict(with_ranks) for k, v in p.privacy.items()}}
                       for p in self.points]}


def tradeoff_curve(name, features, identities, labels, attribute_names, predict_fn,
                   noise_grid=noise.DEFAULT_NOISE_GRID, estimator_names=("kde", "classifier"),
                   min_images=measures.DEFAULT_MIN_IMAGES, probe_fraction=measures.DEFAULT_PROBE_FRACTION,
                   seed=0, rotate=False, progress=None) -> Curve:
  """Accuracy and every privacy measure at each noise level, on the same samples.

  ``predict_fn(features) -> logits`` is the cloud predictor. The samples are those of the
  identities the attacker keeps (more than ``min_images`` images); noise N(0, r C) uses C,
  the covariance of the clean features of those samples.
  """
  f, y = measures.check_features(features, identities)
  labels = np.asarray(labels)
  if len(labels) != len(f):
    raise ValueError(f"{len(f)} features but {len(labels)} label rows")
  kept = measures.kept_indices(y, min_images)
  f, y, labels = f[kept], y[kept], labels[kept]
  split0 = measures.attacker_split(y, min_images, probe_fraction, seed)
  cov = noise.feature_covariance(f)
  points = []
  for r in noise_grid:
    noisy = noise.add_noise(f, r, cov, seed)
    logits = predict_fn(noisy.astype(np.float32))
    acc = accuracy.attribute_accuracy(logits, labels, attribute_names)
    priv = {e: measures.pooled_privacy(noisy, y, e, min_images, probe_fraction, seed, rotate)
            for e in estimator_names}
    correct = ((np.asarray(logits) > 0) == (labels > 0.5)).mean(axis=1)
    points.append(TradeoffPoint(float(r), acc["mean_accuracy"], acc["accuracy"], priv, correct))
    if progress:
      progress(1)
  split = {"kept_identities": split0.kept_identities, "dropped_identities": split0.dropped_identities,
           "min_images": min_images, "probe_fraction": probe_fraction, "seed": seed,
           "rotated": rotate, "folds": split0.folds if rotate else 1}
  return Curve(name, points, list(attribute_names), len(f), split)


def _interp(acc, priv, grid):
  order = np.argsort(acc, kind="stable")
  a, p = acc[order], priv[order]
  # Equal accuracies: keep the most private point (the attainable envelope).
  ua = np.unique(a)
  up = np.array([p[a == v].max() for v in ua])
  return np.interp(grid, ua, up)


def overlap_grid(acc_a, acc_b, n_grid=201):
  """Accuracies both curves reach (one value when they share a single one), or None."""
  lo, hi = max(acc_a.min(), acc_b.min()), min(acc_a.max(), acc_b.max())
  if hi < lo:
    return None
  return np.linspace(lo, hi, n_grid) if hi > lo else np.array([lo])


def curve_gap(acc_a, priv_a, acc_b, priv_b, n_grid=201):
  """Mean of privacy_a(acc) - privacy_b(acc) over the shared accuracy range, or None."""
  grid = overlap_grid(acc_a, acc_b, n_grid)
  if grid is None:
    return None
  return float((_interp(acc_a, priv_a, grid) - _interp(acc_b, priv_b, grid)).mean())


def pool(curves: list) -> Curve:
  """One curve from the same model trained/evaluated with several seeds: the probes and samples
  of every seed pooled at each noise level (grids must match)."""
  grid = [p.r for p in curves[0].points]
  if any([p.r for p in c.points] != grid for c in curves):
    raise ValueError("curves evaluated on different noise grids cannot be pooled")
  points = []
  for i, r in enumerate(grid):
    pts = [c.points[i] for c in curves]
    correct = np.concatenate([p.correct for p in pts])
    priv = {e: measures.combine([p.privacy[e] for p in pts]) for e in pts[0].privacy}
    per_attr = {k: float(np.mean([p.per_attribute[k] for p in pts])) for k in pts[0].per_attribute}
    points.append(TradeoffPoint(r, float(correct.mean()), per_attr, priv, correct))
  split = {**curves[0].split, "seeds": len(curves)}
  return Curve(curves[0].name, points, curves[0].attributes, sum(c.n_samples for c in curves), split)


def superiority(a: Curve, b: Curve, measure="log_rank_privacy", estimator="worst", n_grid=201) -> dict:
  """Is ``a`` Acc-Priv superior to ``b``: more privacy at every accuracy both curves reach?

  Both curves are linearly interpolated as privacy(accuracy) over the accuracy range they
  share; the verdict and the mean gap (a - b) are taken on a grid over that range.
  """
  acc_a, pa = a.arrays(measure, estimator)
  acc_b, pb = b.arrays(measure, estimator)
  grid = overlap_grid(acc_a, acc_b, n_grid)
  out = {"a": a.name, "b": b.name, "measure": measure, "estimator": estimator,
         "accuracy_range": None if grid is None else [float(grid[0]), float(grid[-1])]}
  if grid is None:
    return {**out, "verdict": "undetermined (the curves share no accuracy range)",
            "a_superior": False, "b_superior": False, "mean_gap": None, "min_gap": None, "max_gap": None}
  gap = _interp(acc_a, pa, grid) - _interp(acc_b, pb, grid)
  a_sup, b_sup = bool((gap > 0).all()), bool((gap < 0).all())
  verdict = (f"{a.name} is Acc-Priv superior to {b.name}" if a_sup else
             f"{b.name} is Acc-Priv superior to {a.name}" if b_sup else
             "neither is Acc-Priv superior (the curves cross)")
  return {**out, "verdict": verdict, "a_superior": a_sup, "b_superior": b_sup,
          "mean_gap": float(gap.mean()), "min_gap": float(gap.min()), "max_gap": float(gap.max())}
