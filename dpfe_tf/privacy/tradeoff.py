"""Accuracy-privacy trade-off curves (Procedure 2) and Acc-Priv superiority (Definition 11).

For one model: at each noise scale r, the private features plus N(0, r C) (the attacker's public
features get the same noise), the predictor's primary accuracy on them, and every attacker's
privacy measures on the same probes. ``TradeoffPoint.worst`` is the one place where the worst
case for the defender is taken: the attacker that leaves the least log-rank privacy (and, for
top-1, the one that identifies the most), named.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from dpfe_tf.data.attributes import attribute_accuracy, correct_per_image
from dpfe_tf.privacy import measures, noise
from dpfe_tf.privacy.attackers.base import AttackData


@dataclasses.dataclass
class TradeoffPoint:
  r: float
  accuracy: float                 # mean over the attribute set
  per_attribute: dict
  privacy: dict                   # attacker -> PrivacyResult
  correct: np.ndarray = dataclasses.field(default=None, repr=False)  # per sample, fraction of attributes right
  verification: object = None     # VerificationResult, when run
  seconds: dict = dataclasses.field(default_factory=dict)  # attacker -> time taken

  def worst(self, measure: str = "log_rank_privacy") -> tuple[float, str]:
    """(value, attacker) of the attacker worst for the defender: least privacy, or most ``top1``."""
    if not self.privacy:
      raise ValueError("no identifying attacker was run")
    if measure == "top1":
      name = max(self.privacy, key=lambda a: self.privacy[a].top1)
      return self.privacy[name].top1, name
    name = min(self.privacy, key=lambda a: getattr(self.privacy[a], measure))
    return getattr(self.privacy[name], measure), name

  def value(self, measure: str, attacker: str = "worst") -> float:
    if attacker == "worst":
      return self.worst(measure)[0]
    r = self.privacy[attacker]
    return r.top1 if measure == "top1" else getattr(r, measure)


@dataclasses.dataclass
class Curve:
  name: str
  points: list
  attributes: list
  n_samples: int
  split: dict
  notes: list = dataclasses.field(default_factory=list)
  chance: float | None = None   # what a constant guess scores on these samples (mean majority-class rate)

  def arrays(self, measure="log_rank_privacy", attacker="worst"):
    """(accuracy, privacy) over the noise levels where ``attacker`` ran."""
    pts = [p for p in self.points if attacker == "worst" or attacker in p.privacy]
    return np.array([p.accuracy for p in pts]), np.array([p.value(measure, attacker) for p in pts])

  def attackers(self) -> list[str]:
    return list(dict.fromkeys(a for p in self.points for a in p.privacy))

  def as_dict(self, with_ranks=False):
    def point(p):
      d = {"r": p.r, "accuracy": p.accuracy, "per_attribute": p.per_attribute,
           "privacy": {k: v.as_dict(with_ranks) for k, v in p.privacy.items()}, "seconds": p.seconds}
      if p.privacy:
        (lrp, who), (top1, top1_who) = p.worst("log_rank_privacy"), p.worst("top1")
        d["worst"] = {"log_rank_privacy": lrp, "attacker": who, "top1": top1, "top1_attacker": top1_who}
      if p.verification is not None:
        d["verification"] = p.verification.as_dict()
      return d
    return {"name": self.name, "attributes": self.attributes, "n_samples": self.n_samples, "split": self.split,
            "chance": self.chance, "notes": self.notes, "points": [point(p) for p in self.points]}


@dataclasses.dataclass
class ModelData:
  """What one model contributes to a curve: its features of the evaluated and public images."""
  name: str
  features: np.ndarray
  identities: np.ndarray
  labels: np.ndarray                 # the evaluated images' attribute labels in {0, 1}
  attribute_names: tuple
  predict: object                    # features -> logits (the cloud predictor)
  public_features: np.ndarray | None = None
  public_identities: np.ndarray | None = None
  noise_directions: np.ndarray | None = None   # (dim, k): kept free of noise (``noise.without_directions``)


@dataclasses.dataclass
class Evidence:
  """What the attacker holds besides the features, shared by every model: photos and public images."""
  photos: np.ndarray | None = None          # face embeddings of the evaluated images' photos
  public_photos: np.ndarray | None = None
  public_images: np.ndarray | None = None


@dataclasses.dataclass
class CurveSettings:
  noise_grid: tuple
  min_images: int
  probe_fraction: float
  seed: int
  rotate: bool


def probe_folds(identities, settings: CurveSettings):
  """The samples the attacker keeps (identities with more than ``min_images``) and the gallery/probe
  folds over them (indices into the kept samples): the same for every model and attacker."""
  kept = measures.kept_indices(identities, settings.min_images)
  y = np.asarray(identities)[kept]
  return kept, measures.splits(y, settings.min_images, settings.probe_fraction, settings.seed, settings.rotate)


def tradeoff_curve(model: ModelData, attackers: list, settings: CurveSettings, evidence: Evidence = None,
                   verifier=None, progress=None) -> Curve:
  """Accuracy and every attacker's measures at each noise level, on the same samples.

  The samples are those of the identities the attacker keeps (more than ``min_images`` images);
  noise N(0, r C) uses C, the covariance of the clean features of those samples (the public
  features get noise of their own covariance, as the attacker would simulate it); with the model's
  ``noise_directions``, both covariances have those directions removed.
  """
  evidence = evidence or Evidence()
  f, y = measures.check_features(model.features, model.identities)
  labels = np.asarray(model.labels)
  if len(labels) != len(f):
    raise ValueError(f"{len(f)} features but {len(labels)} label rows")
  kept, folds = probe_folds(y, settings)
  f, y, labels = f[kept], y[kept], labels[kept]
  photos = None if evidence.photos is None else np.asarray(evidence.photos)[kept]
  cov = noise.noise_covariance(f, model.noise_directions)
  pub = model.public_features
  pub_cov = None if pub is None else noise.noise_covariance(pub, model.noise_directions)
  points, chance = [], None
  for r in settings.noise_grid:
    noisy = noise.add_noise(f, r, cov, settings.seed)
    logits = model.predict(noisy.astype(np.float32))
    acc = attribute_accuracy(logits, labels, model.attribute_names)
    chance = acc["mean_chance"]
    data = AttackData(noisy, y, settings.seed,
                      None if pub is None else noise.add_noise(pub, r, pub_cov, settings.seed + 1),
                      model.public_identities, photos, evidence.public_photos, evidence.public_images, r)
    privacy, seconds = {}, {}
    for a in attackers:
      if not a.runs_at(r):
        continue
      t = time.perf_counter()
      privacy[a.name] = measures.pooled(a, data, folds)
      seconds[a.name] = round(time.perf_counter() - t, 3)
    verification = None
    if verifier is not None:
      t = time.perf_counter()
      verification = verifier.run(data)
      seconds[verifier.name] = round(time.perf_counter() - t, 3)
    points.append(TradeoffPoint(float(r), acc["mean_accuracy"], acc["accuracy"], privacy,
                                correct_per_image(logits, labels), verification, seconds))
    if progress:
      progress(1)
  split = {"kept_identities": folds[0].kept_identities, "dropped_identities": folds[0].dropped_identities,
           "min_images": settings.min_images, "probe_fraction": settings.probe_fraction, "seed": settings.seed,
           "rotated": settings.rotate, "folds": len(folds)}
  return Curve(model.name, points, list(model.attribute_names), len(f), split, chance=chance)


def _interp(acc, priv, grid):
  order = np.argsort(acc, kind="stable")
  a, p = acc[order], priv[order]
  # Equal accuracies: keep the most private point (the attainable envelope).
  ua = np.unique(a)
  up = np.array([p[a == v].max() for v in ua])
  return np.interp(grid, ua, up)


def overlap_grid(acc_a, acc_b, n_grid=201, floor=None):
  """Accuracies both curves reach (one value when they share a single one), from ``floor`` up when
  given, or None."""
  lo, hi = max(acc_a.min(), acc_b.min()), min(acc_a.max(), acc_b.max())
  if floor is not None:
    lo = max(lo, floor)
  if hi < lo:
    return None
  return np.linspace(lo, hi, n_grid) if hi > lo else np.array([lo])


def chance_floor(a: Curve, b: Curve):
  """The accuracy a constant guess reaches on the samples of ``a`` and ``b`` (the larger of their
  chance rates), or None when neither curve knows it. Below it every point of a curve is beaten by
  sending nothing at all (as accurate or more, and nothing to identify), so Acc-Priv superiority is
  judged above it."""
  known = [c.chance for c in (a, b) if c.chance is not None]
  return max(known) if known else None


def curve_gap(acc_a, priv_a, acc_b, priv_b, n_grid=201, floor=None):
  """Mean of privacy_a(acc) - privacy_b(acc) over the shared accuracy range (from ``floor`` up), or None."""
  grid = overlap_grid(acc_a, acc_b, n_grid, floor)
  if grid is None:
    return None
  return float((_interp(acc_a, priv_a, grid) - _interp(acc_b, priv_b, grid)).mean())


def pool(curves: list) -> Curve:
  """One curve from the same model trained/evaluated with several seeds: the probes and samples
  of every seed pooled at each noise level (grids and attackers must match)."""
  grid = [p.r for p in curves[0].points]
  if any([p.r for p in c.points] != grid for c in curves):
    raise ValueError("curves evaluated on different noise grids cannot be pooled")
  points = []
  for i, r in enumerate(grid):
    pts = [c.points[i] for c in curves]
    correct = np.concatenate([p.correct for p in pts])
    priv = {e: measures.combine([p.privacy[e] for p in pts]) for e in pts[0].privacy}
    per_attr = {k: float(np.mean([p.per_attribute[k] for p in pts])) for k in pts[0].per_attribute}
    ver = _pool_verification([p.verification for p in pts])
    secs = {k: round(sum(p.seconds.get(k, 0.0) for p in pts), 3) for k in pts[0].seconds}
    points.append(TradeoffPoint(r, float(correct.mean()), per_attr, priv, correct, ver, secs))
  split = {**curves[0].split, "seeds": len(curves)}
  chance = None if any(c.chance is None for c in curves) else float(
      np.average([c.chance for c in curves], weights=[c.n_samples for c in curves]))
  return Curve(curves[0].name, points, curves[0].attributes, sum(c.n_samples for c in curves), split,
               curves[0].notes, chance)


def _pool_verification(results):
  if any(v is None for v in results):
    return None
  from dpfe_tf.privacy.attackers.verification import VerificationResult
  w = np.array([v.n_same + v.n_different for v in results], float)
  w /= w.sum()
  return VerificationResult(results[0].attacker, float(sum(wi * v.auc for wi, v in zip(w, results))),
                            {k: float(sum(wi * v.tar_at_far[k] for wi, v in zip(w, results)))
                             for k in results[0].tar_at_far},
                            sum(v.n_same for v in results), sum(v.n_different for v in results))


def superiority(a: Curve, b: Curve, measure="log_rank_privacy", attacker="worst", n_grid=201) -> dict:
  """Is ``a`` Acc-Priv superior to ``b`` (Definition 11): more privacy at every accuracy both curves
  reach above chance?

  Both curves are linearly interpolated as privacy(accuracy) over the accuracy range they share,
  from the constant guess's accuracy up (``chance_floor``: below it sending nothing beats every
  point, so no accuracy there is one a defence offers); the verdict and the mean gap (a - b) are
  taken on a grid over that range. ``whole_range`` keeps the same figures over the whole shared
  range, chance or not, and the verdict says when it differs.
  """
  acc_a, pa = a.arrays(measure, attacker)
  acc_b, pb = b.arrays(measure, attacker)
  floor = chance_floor(a, b)
  whole = _judged(a, acc_a, pa, b, acc_b, pb, overlap_grid(acc_a, acc_b, n_grid))
  above = _judged(a, acc_a, pa, b, acc_b, pb, overlap_grid(acc_a, acc_b, n_grid, floor))
  verdict = above.pop("verdict")
  if above["accuracy_range"] is None and whole["accuracy_range"] is not None:
    verdict = f"undetermined (the curves share no accuracy above chance ({floor:.3f}))"
  elif whole["verdict"] != verdict:  # superior above chance, the curves crossing below it
    verdict += (f" above chance ({floor:.3f}, a constant guess's accuracy on these images); below it, where "
                f"sending nothing does as well, the curves cross (gap {whole['min_gap']:+.3f} to {whole['max_gap']:+.3f})")
  return {"a": a.name, "b": b.name, "measure": measure, "attacker": attacker, "chance": floor,
          "verdict": verdict, **above, "whole_range": whole}


def _judged(a, acc_a, pa, b, acc_b, pb, grid) -> dict:
  """The verdict and the gap's mean, min and max on an accuracy grid (None: undetermined)."""
  if grid is None:
    return {"accuracy_range": None, "verdict": "undetermined (the curves share no accuracy range)",
            "a_superior": False, "b_superior": False, "mean_gap": None, "min_gap": None, "max_gap": None}
  gap = _interp(acc_a, pa, grid) - _interp(acc_b, pb, grid)
  a_sup, b_sup = bool((gap > 0).all()), bool((gap < 0).all())
  verdict = (f"{a.name} is Acc-Priv superior to {b.name}" if a_sup else
             f"{b.name} is Acc-Priv superior to {a.name}" if b_sup else
             "neither is Acc-Priv superior (the curves cross)")
  return {"accuracy_range": [float(grid[0]), float(grid[-1])], "verdict": verdict, "a_superior": a_sup,
          "b_superior": b_sup, "mean_gap": float(gap.mean()), "min_gap": float(gap.min()), "max_gap": float(gap.max())}
