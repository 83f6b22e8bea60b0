"""Bootstrap 95% intervals for the trade-off figures, and for the gap between two models.

Resampling units are the evaluated images: probes for the privacy measures, samples for
accuracy, stratified by seed when several seeds are pooled (``groups``). Two models
evaluated on the same images in the same order are resampled with the same indices
(a paired bootstrap), so the interval of their gap reflects only the sampling of images.

Those intervals hold the seeds' trainings fixed. ``across_seeds`` gives the other view: one figure
per seed (each its own training and probes) and a Student-t interval of their mean, which also
covers how much a figure moves from one training to the next.
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


def lrp_terms(result):
  """Per-probe log(rank) / log(K): their mean is the log-rank privacy."""
  K = result.K_per_probe if result.K_per_probe is not None else result.K
  return np.log(result.ranks) / np.log(np.asarray(K, np.float64))


def _terms(point) -> dict:
  """Per-probe log-rank terms of every attacker at a point (same probes, same order)."""
  terms = {a: lrp_terms(r) for a, r in point.privacy.items()}
  if len({len(t) for t in terms.values()}) > 1:
    raise ValueError("the attackers of a point were not run on the same probes")
  return terms


def _worst(terms: dict, idx) -> float:
  """The worst case over the attackers of the resampled mean: re-chosen in every resample."""
  return min(float(t[idx].mean()) for t in terms.values())


def worst_case_ci(terms: dict, n_boot=1000, seed=0, groups=None, level=0.95) -> list[float]:
  """Interval of the worst-case log-rank privacy over attackers whose per-probe ``terms`` (attacker
  -> ``lrp_terms``, same probes in the same order) are given: the worst attacker re-chosen in every
  resample."""
  n = len(next(iter(terms.values())))
  rng = np.random.default_rng(seed)
  worst = [_worst(terms, _resample(n, groups, rng)) for _ in range(n_boot)]
  return [float(v) for v in np.quantile(worst, ((1 - level) / 2, 1 - (1 - level) / 2))]


def point_intervals(point, n_boot=1000, seed=0, *, probe_groups=None, sample_groups=None, level=0.95) -> dict:
  """Intervals of accuracy, the worst-case log-rank privacy (the worst attacker re-chosen in each
  resample), and the strongest attacker's top-1."""
  terms = _terms(point)
  lrp, who = point.worst("log_rank_privacy")
  top, top_who = point.worst("top1")
  each = {a: {"log_rank_privacy": bootstrap_ci(terms[a], n_boot, level, seed, probe_groups),
              "top1": bootstrap_ci((r.ranks == 1).astype(float), n_boot, level, seed, probe_groups)}
          for a, r in point.privacy.items()}
  return {"attacker": who, "top1_attacker": top_who,
          "accuracy": bootstrap_ci(point.correct, n_boot, level, seed, sample_groups),
          "log_rank_privacy": worst_case_ci(terms, n_boot, seed, probe_groups, level),
          "top1": each[top_who]["top1"], "per_attacker": each}


def point_gap(pa, pb, n_boot=1000, seed=0, *, probe_groups=None, sample_groups=None, level=0.95) -> dict:
  """Paired bootstrap of two points on the same probes and images (e.g. a model with noise against
  another without): the gaps (a - b) of accuracy and of worst-case log-rank privacy, each attacker
  re-chosen in every resample."""
  ta, tb = _terms(pa), _terms(pb)
  ca, cb = np.asarray(pa.correct, np.float64), np.asarray(pb.correct, np.float64)
  n_probe = len(next(iter(ta.values())))
  if n_probe != len(next(iter(tb.values()))) or len(ca) != len(cb):
    raise ValueError("the two points were not evaluated on the same probes and images")
  rng = np.random.default_rng(seed)
  lrp, acc = [], []
  for _ in range(n_boot):
    ip = _resample(n_probe, probe_groups, rng)
    isamp = _resample(len(ca), sample_groups, rng)
    lrp.append(_worst(ta, ip) - _worst(tb, ip))
    acc.append(ca[isamp].mean() - cb[isamp].mean())
  q = ((1 - level) / 2, 1 - (1 - level) / 2)
  everyone = np.arange(n_probe)
  return {"level": level, "n_boot": n_boot, "accuracy_gap": float(ca.mean() - cb.mean()),
          "accuracy_gap_ci": [float(v) for v in np.quantile(acc, q)],
          "log_rank_gap": _worst(ta, everyone) - _worst(tb, everyone),
          "log_rank_gap_ci": [float(v) for v in np.quantile(lrp, q)]}


def gap_intervals(a, b, n_boot=1000, seed=0, *, probe_groups=None, sample_groups=None, level=0.95) -> dict:
  """Paired bootstrap of (a - b) under the worst-case attacker: log-rank privacy at the first noise
  level, and the mean gap of the interpolated accuracy-privacy curves over the accuracies above chance
  (Definition 11's comparison, ``tradeoff.superiority``)."""
  ta = [_terms(p) for p in a.points]
  tb = [_terms(p) for p in b.points]
  ca = [np.asarray(p.correct) for p in a.points]
  cb = [np.asarray(p.correct) for p in b.points]
  n_probe, n_sample = len(next(iter(ta[0].values()))), len(ca[0])
  for x, y, u, v in zip(ta, tb, ca, cb):
    if len(next(iter(x.values()))) != len(next(iter(y.values()))) or len(u) != len(v):
      raise ValueError(f"{a.name} and {b.name} were not evaluated on the same images")
  everyone = np.arange(n_probe)
  floor = tradeoff.chance_floor(a, b)   # the verdict's range: accuracies above a constant guess
  rng = np.random.default_rng(seed)
  first, curve = [], []
  for _ in range(n_boot):
    ip = _resample(n_probe, probe_groups, rng)
    isamp = _resample(n_sample, sample_groups, rng)
    first.append(_worst(ta[0], ip) - _worst(tb[0], ip))
    acc_a = np.array([c[isamp].mean() for c in ca])
    acc_b = np.array([c[isamp].mean() for c in cb])
    pa = np.array([_worst(t, ip) for t in ta])
    pb = np.array([_worst(t, ip) for t in tb])
    g = tradeoff.curve_gap(acc_a, pa, acc_b, pb, floor=floor)
    if g is not None:
      curve.append(g)
  q = ((1 - level) / 2, 1 - (1 - level) / 2)
  out = {"a": a.name, "b": b.name, "level": level, "n_boot": n_boot,
         "first_point_log_rank_gap": _worst(ta[0], everyone) - _worst(tb[0], everyone),
         "first_point_log_rank_gap_ci": [float(v) for v in np.quantile(first, q)],
         "mean_curve_gap_ci": [float(v) for v in np.quantile(curve, q)] if curve else None}
  lo, hi = out["first_point_log_rank_gap_ci"]
  out["first_point_excludes_zero"] = bool(lo > 0 or hi < 0)
  if curve:
    lo, hi = out["mean_curve_gap_ci"]
    out["curve_gap_excludes_zero"] = bool(lo > 0 or hi < 0)
  return out


def t_quantile(df: int, level: float = 0.95) -> float:
  """The two-sided Student-t critical value: P(|T| <= t) = level for T with ``df`` (whole) degrees of
  freedom. Closed forms of the t distribution for whole df (Abramowitz and Stegun 26.7.3-4), inverted
  by bisection."""
  if df < 1 or int(df) != df:
    raise ValueError(f"degrees of freedom must be a whole number >= 1, got {df}")
  if not 0 < level < 1:
    raise ValueError(f"level must be in (0, 1), got {level}")

  def inside(t):  # P(|T| <= t)
    theta = np.arctan(t / np.sqrt(df))
    c2, term, total = np.cos(theta) ** 2, 1.0, 1.0
    if df % 2:
      if df == 1:
        return 2 * theta / np.pi
      for k in range(1, (df - 3) // 2 + 1):
        term *= c2 * (2 * k) / (2 * k + 1)
        total += term
      return 2 / np.pi * (theta + np.sin(theta) * np.cos(theta) * total)
    for k in range(1, (df - 2) // 2 + 1):
      term *= c2 * (2 * k - 1) / (2 * k)
      total += term
    return np.sin(theta) * total

  lo, hi = 0.0, 1.0
  while inside(hi) < level:
    hi *= 2
  for _ in range(100):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if inside(mid) < level else (lo, mid)
  return (lo + hi) / 2


def across_seeds(values, level: float = 0.95) -> dict:
  """One figure per seed -> their mean and its Student-t interval over the seeds (n - 1 degrees of
  freedom): the spread between trainings, probe sampling included, that a bootstrap stratified by
  seed does not show. Needs two seeds or more."""
  v = np.asarray(values, np.float64)
  if v.size < 2:
    raise ValueError("an interval across seeds needs at least 2 seeds")
  mean, sd = float(v.mean()), float(v.std(ddof=1))
  half = t_quantile(v.size - 1, level) * sd / np.sqrt(v.size)
  lo, hi = float(mean - half), float(mean + half)
  return {"per_seed": [float(x) for x in v], "mean": mean, "sd": sd, "n": int(v.size), "level": level,
          "interval": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0)}
