"""Bootstrap 95% intervals for the trade-off figures, and for the gap between two models.

Resampling units are the evaluated images: probes for the privacy measures, samples for
accuracy, stratified by seed when several seeds are pooled (``groups``). Two models
evaluated on the same images in the same order are resampled with the same indices
(a paired bootstrap), so the interval of their gap reflects only the sampling of images.
"""

from __future__ import annotations

import numpy as np

from dpfe_tf.privacy import tradeoff


def _resample(n, groups, rng):
  if groups is None:
    return rng.integers(0, n, n)
  groups = np.asarray(groups)
  out = []
  for g in np.unique(groups):
    idx = np.flatnonzero(groups == g)
    out.append(idx[rng.integers(0, len(idx), len(idx))])
  return np.concatenate(out)


def bootstrap_ci(values, n_boot=1000, level=0.95, seed=0, groups=None):
  """Percentile interval of the mean of ``values``: (low, high)."""
  v = np.asarray(values, np.float64)
  if v.size == 0:
    raise ValueError("no values to bootstrap")
  rng = np.random.default_rng(seed)
  means = np.array([v[_resample(len(v), groups, rng)].mean() for _ in range(n_boot)])
  a = (1 - level) / 2
  return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def _worst_estimator(point, measure="log_rank_privacy"):
  return min(point.privacy, key=lambda e: getattr(point.privacy[e], measure))


def lrp_terms(result):
  """Per-probe log(rank) / log(K): their mean is the log-rank privacy."""
  K = result.K_per_probe if result.K_per_probe is not None else result.K
  return np.log(result.ranks) / np.log(np.asarray(K, np.float64))


def point_intervals(point, n_boot=1000, seed=0, probe_groups=None, sample_groups=None) -> dict:
  """Intervals of accuracy and of the worst estimator's log-rank privacy and rank mean."""
  e = _worst_estimator(point)
  res = point.privacy[e]
  K = np.asarray(res.K_per_probe if res.K_per_probe is not None else res.K, np.float64)
  return {"estimator": e,
          "accuracy": bootstrap_ci(point.correct, n_boot, seed=seed, groups=sample_groups),
          "log_rank_privacy": bootstrap_ci(lrp_terms(res), n_boot, seed=seed, groups=probe_groups),
          "rank_mean": bootstrap_ci(res.ranks / K, n_boot, seed=seed, groups=probe_groups)}


def gap_intervals(a, b, n_boot=1000, seed=0, probe_groups=None, sample_groups=None, level=0.95) -> dict:
  """Paired bootstrap of (a - b): log-rank privacy at the first noise level, and the mean gap of
  the interpolated accuracy-privacy curves (Definition 11's comparison)."""
  for pa, pb in zip(a.points, b.points):
    if len(pa.correct) != len(pb.correct) or len(pa.privacy[_worst_estimator(pa)].ranks) != \
        len(pb.privacy[_worst_estimator(pb)].ranks):
      raise ValueError(f"{a.name} and {b.name} were not evaluated on the same images")
  ea = [_worst_estimator(p) for p in a.points]
  eb = [_worst_estimator(p) for p in b.points]
  ta = [lrp_terms(p.privacy[e]) for p, e in zip(a.points, ea)]
  tb = [lrp_terms(p.privacy[e]) for p, e in zip(b.points, eb)]
  ca = [np.asarray(p.correct) for p in a.points]
  cb = [np.asarray(p.correct) for p in b.points]
  n_probe, n_sample = len(ta[0]), len(ca[0])
  rng = np.random.default_rng(seed)
  first, curve = [], []
  for _ in range(n_boot):
    ip = _resample(n_probe, probe_groups, rng)
    isamp = _resample(n_sample, sample_groups, rng)
    first.append(ta[0][ip].mean() - tb[0][ip].mean())
    acc_a = np.array([c[isamp].mean() for c in ca])
    acc_b = np.array([c[isamp].mean() for c in cb])
    pa = np.array([t[ip].mean() for t in ta])
    pb = np.array([t[ip].mean() for t in tb])
    g = tradeoff.curve_gap(acc_a, pa, acc_b, pb)
    if g is not None:
      curve.append(g)
  q = ((1 - level) / 2, 1 - (1 - level) / 2)
  out = {"a": a.name, "b": b.name, "level": level, "n_boot": n_boot,
         "first_point_log_rank_gap": float(np.mean(ta[0]) - np.mean(tb[0])),
         "first_point_log_rank_gap_ci": [float(v) for v in np.quantile(first, q)],
         "mean_curve_gap_ci": [float(v) for v in np.quantile(curve, q)] if curve else None}
  lo, hi = out["first_point_log_rank_gap_ci"]
  out["first_point_excludes_zero"] = bool(lo > 0 or hi < 0)
  if curve:
    lo, hi = out["mean_curve_gap_ci"]
    out["curve_gap_excludes_zero"] = bool(lo > 0 or hi < 0)
  return out
