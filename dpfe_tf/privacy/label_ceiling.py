"""How private can a feature be that lets the cloud predict the primary attributes? The labels as the feature.

Whatever the cloud computes from a feature, an attacker can compute too: against the best attacker
a feature is never more private than the attribute predictions made from it. The most private
predictions of a given accuracy carry nothing but the labels, each bit flipped at random, independently
of the person (randomised response). This module measures that reference with the project's own
attackers, probes and seeds: the feature of an image is its attribute labels, each flipped with
probability 1 - ``accuracy``, plus a tiny jitter so that people with the same labels tie at random
rather than by index. The public people's features are made the same way.

It is a reference, not a proof: a feature could hide identity in the way it errs (errors that depend
on the person are more identifying, not less, so we know of none), and the attackers here are the
project's gallery-feature attackers, not the Bayes-optimal one. A log-rank privacy target above this
line asks a feature to be more private than its own labels.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dpfe_tf.privacy import attackers as attackers_lib
from dpfe_tf.privacy import intervals, measures
from dpfe_tf.privacy.attackers.base import AttackData

JITTER = 1e-3
#: The issue's target: DPFE's log-rank privacy this much above Simple's.
TARGET_GAP = 0.15


def label_feature(labels, accuracy: float, rng, jitter: float = JITTER) -> np.ndarray:
  """Labels (N, A) in {0, 1}, each flipped with probability 1 - ``accuracy``, as a float feature."""
  if not 0.0 <= accuracy <= 1.0:
    raise ValueError(f"accuracy must be in [0, 1], got {accuracy}")
  y = np.asarray(labels, np.float64).reshape(len(labels), -1)
  flip = rng.random(y.shape) >= accuracy
  return np.where(flip, 1.0 - y, y) + rng.normal(0.0, jitter, y.shape)


@dataclasses.dataclass
class CeilingResult:
  accuracy: float                # the labels' accuracy (1: the true labels)
  log_rank_privacy: float        # worst case over the attackers, probes of every seed pooled
  interval: list                 # 95% bootstrap interval, the worst attacker re-chosen in every resample (within seeds)
  attacker: str
  per_attacker: dict             # attacker -> log-rank privacy
  random_log_rank: float
  K: int
  n_probe: int
  seeds: int


def ceiling(labels, identities, public_labels, public_identities, *, accuracy=1.0, seeds=3,
            min_images=measures.DEFAULT_MIN_IMAGES, attackers=attackers_lib.FEATURE_ATTACKERS,
            n_boot=1000) -> CeilingResult:
  """Log-rank privacy of the (flipped) labels as the feature, on the same gallery/probe folds as the
  evaluation (seed k: every kept image a probe once)."""
  ids = np.asarray(identities)
  kept = measures.kept_indices(ids, min_images)
  per = {a: [] for a in attackers}
  for seed in range(seeds):
    rng = np.random.default_rng(seed)
    f = label_feature(np.asarray(labels)[kept], accuracy, rng)
    pub = label_feature(public_labels, accuracy, rng)
    data = AttackData(f, ids[kept], seed, pub, np.asarray(public_identities))
    folds = measures.splits(data.identities, min_images, seed=seed, rotate=True)
    for a in attackers:
      per[a].append(measures.pooled(attackers_lib.make(a), data, folds))
  pooled = {a: measures.combine(r) if len(r) > 1 else r[0] for a, r in per.items()}
  who = min(pooled, key=lambda a: pooled[a].log_rank_privacy)
  worst = pooled[who]
  groups = np.concatenate([np.full(len(r.ranks), k) for k, r in enumerate(per[who])])
  ci = intervals.worst_case_ci({a: intervals.lrp_terms(r) for a, r in pooled.items()}, n_boot, groups=groups)
  return CeilingResult(accuracy, worst.log_rank_privacy, ci, who,
                       {a: r.log_rank_privacy for a, r in pooled.items()}, worst.random_log_rank, worst.K,
                       len(worst.ranks), seeds)


@dataclasses.dataclass
class Row:
  feature: str
  accuracy: float
  log_rank_privacy: float
  interval: tuple | None
  attacker: str
  K: int | None = None


#: Accuracies of the labels-only frontier drawn beside a variant's trade-off curves.
FRONTIER = (0.6, 0.7, 0.8, 0.9, 1.0)


@dataclasses.dataclass
class VariantCeiling:
  rows: list                 # Row: the references at 100% and at each stage's accuracy, the measured, the target
  frontier: list             # Row: the labels-only reference at FRONTIER's accuracies
  curves: dict               # stage -> [(accuracy, worst-case log-rank privacy)] over the evaluation's noise grid
  evaluation: str
  seeds: int
  K: int                     # identities each probe is ranked among

  @property
  def setting(self) -> str:
    seeds = f"{self.seeds} seed" + ("s" if self.seeds != 1 else "")
    return f"worst case of {', '.join(attackers_lib.FEATURE_ATTACKERS)}; K = {self.K}; {seeds}"


def _reference(what, acc, labels, seeds, min_images, log) -> Row:
  log(f"  {what}: {seeds} seeds x {', '.join(attackers_lib.FEATURE_ATTACKERS)}")
  test, train = labels
  r = ceiling(test[0], test[1], train[0], train[1], accuracy=acc, seeds=seeds, min_images=min_images)
  return Row(what, acc, r.log_rank_privacy, r.interval, r.attacker, r.K)


def _evaluation(variant, stages):
  from dpfe_tf import io_utils, layer_choice
  path = layer_choice.evaluation_file(variant)
  if path is None:
    raise FileNotFoundError(f"{variant} has no evaluation (attacks/ or evaluation/evaluation.json): run "
                            "python -m dpfe_tf.evaluate first")
  ev = io_utils.read_json(path)
  curves = {c["name"]: c["points"] for c in ev["curves"]}
  missing = [s for s in stages if s not in curves]
  if missing:
    raise ValueError(f"{path} has no {', '.join(missing)} curve (it has {', '.join(curves)})")
  return path, ev, curves


def for_variant(variant: str, seeds: int | None = None, stages=("simple", "dpfe"), frontier=FRONTIER,
                min_images=measures.DEFAULT_MIN_IMAGES, log=print) -> VariantCeiling:
  """The labels-only references beside the measured models of a variant's evaluation (its noise-0
  point): the true labels, the labels flipped to each stage's measured accuracy, the measured
  stages, Simple + 0.15; and the labels-only frontier at ``frontier``'s accuracies."""
  from dpfe_tf import run_dir
  from dpfe_tf.data import attributes as attrs
  path, ev, curves = _evaluation(variant, stages)
  cfg = run_dir.Variant(variant).stage("simple").train_config()
  data = cfg.data if ev.get("data_dir") in (None, cfg.data.data_dir) else dataclasses.replace(
      cfg.data, data_dir=ev["data_dir"])
  idx = attrs.attribute_indices(cfg.attribute_names)
  labels = [(d.attributes[:, idx], d.identities) for d in (data.load(ev.get("split", "test")), data.load("train"))]
  seeds = seeds or int(ev.get("seeds", 1))
  K = int(next(iter(curves[stages[0]][0]["privacy"].values()))["K"])
  rows = [_reference("the labels alone (true)", 1.0, labels, seeds, min_images, log)]
  if rows[0].K != K:
    raise ValueError(f"{path} ranks among K = {K} people, the references among {rows[0].K}: pass the "
                     "evaluation's --min_images")
  rows += [_reference(f"the labels alone, flipped at random to {s}'s accuracy", curves[s][0]["accuracy"], labels,
                      seeds, min_images, log) for s in stages]
  for s in stages:
    p = curves[s][0]
    rows.append(Row(f"{s} (measured: {os.path.relpath(path)})", p["accuracy"], p["worst"]["log_rank_privacy"],
                    (p.get("interval_95") or {}).get("log_rank_privacy"), p["worst"]["attacker"]))
  if "simple" in curves:
    simple = curves["simple"][0]
    rows.append(Row(f"target: Simple + {TARGET_GAP:g}", simple["accuracy"],
                    simple["worst"]["log_rank_privacy"] + TARGET_GAP, None, ""))
  line = [rows[0] if a == 1.0 else _reference(f"the labels alone at {100 * a:.0f}%", a, labels, seeds, min_images,
                                                log) for a in frontier]
  return VariantCeiling(rows, line, {s: [(p["accuracy"], p["worst"]["log_rank_privacy"]) for p in curves[s]]
                                     for s in stages}, path, seeds, K)


def markdown(rows: list[Row]) -> str:
  from dpfe_tf.tables import _ci
  out = ["| feature the attacker sees | attribute accuracy | worst-case log-rank privacy | by |", "|---|---|---|---|"]
  for r in rows:
    out.append(f"| {r.feature} | {100 * r.accuracy:.1f}% | {_ci(r.log_rank_privacy, r.interval)} | {r.attacker} |")
  return "\n".join(out)
