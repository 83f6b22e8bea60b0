"""The paper's privacy measures, as pure functions on feature arrays (no model needed).

- **log-rank privacy** (Definition 10): rank the K identities by p(y | f_i), descending, ties
  sharing the average rank (as the reference code); LRP = mean(log rank of the true
  identity) / log K. 0 when the true identity always ranks first; the random-guess
  reference is log(K!) / (K log K) (0.845 for K = 608).
- **rank mean and std** divided by K (Figure 9); random guessing gives (K+1)/2K ~ 0.5 and
  sqrt((K^2-1)/12)/K ~ 0.289.
- **1-NN misclassification** of identity (nearest gallery feature, Euclidean) and the
  **Bayes error** of the estimator (its top-ranked identity is wrong).

The attacker's data follow the reference code: identities with more than ``min_images``
images are kept, their images are split 90/10 into gallery (fitting) and probe with a fixed
seed, probe identities unseen in the gallery are dropped; every sample is used once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dpfe_tf.privacy import estimators

DEFAULT_MIN_IMAGES = 18
#: Thresholds t of the rank guarantee P(rank / K > t) (paper Section 6.2).
GUARANTEE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)
DEFAULT_PROBE_FRACTION = 0.1


@dataclasses.dataclass
class AttackerSplit:
  gallery: np.ndarray         # indices into the evaluated samples
  probe: np.ndarray
  kept_identities: int
  dropped_identities: int     # had <= min_images images
  dropped_probes: int         # probe samples whose identity is not in the gallery
  fold: int
  folds: int


@dataclasses.dataclass
class PrivacyResult:
  estimator: str
  K: int                      # identities the attacker ranks
  n_probe: int
  log_rank_privacy: float
  rank_mean: float            # mean rank / K
  rank_std: float             # std of rank / K
  bayes_error: float          # the estimator's top-1 identity is wrong
  one_nn_error: float         # nearest gallery feature has another identity
  random_log_rank: float      # log(K!) / (K log K)
  random_rank_mean: float
  random_rank_std: float
  ranks: np.ndarray = dataclasses.field(repr=False, default=None)  # rank of the true identity, 1..K
  notes: dict = dataclasses.field(default_factory=dict)
  guarantee: dict = dataclasses.field(default_factory=dict)  # t -> P(rank / K > t)
  K_per_probe: np.ndarray = dataclasses.field(repr=False, default=None)  # when folds are pooled

  def as_dict(self, with_ranks=False):
    d = dataclasses.asdict(self)
    d.pop("K_per_probe")
    if not with_ranks:
      d.pop("ranks")
    elif self.ranks is not None:
      d["ranks"] = self.ranks.tolist()
    return d


def check_features(features, identities):
  f = np.asarray(features)
  y = np.asarray(identities)
  if f.ndim != 2:
    raise ValueError(f"features must be (n, dim), got shape {f.shape}")
  if len(f) != len(y):
    raise ValueError(f"{len(f)} features but {len(y)} identities")
  bad = ~np.isfinite(f).all(1)
  if bad.any():
    raise ValueError(f"{int(bad.sum())} of {len(f)} features contain NaN or inf "
                     f"(first at row {int(np.flatnonzero(bad)[0])})")
  return f.astype(np.float64), y


def kept_indices(identities, min_images: int = DEFAULT_MIN_IMAGES) -> np.ndarray:
  """Samples of the identities with more than ``min_images`` images (the attacker's identities)."""
  y = np.asarray(identities)
  ids, counts = np.unique(y, return_counts=True)
  keep_ids = ids[counts > min_images]
  if len(keep_ids) < 2:
    raise ValueError(f"fewer than 2 identities have more than {min_images} images "
                     f"({len(ids)} identities, at most {counts.max() if len(counts) else 0} "
                     "images each); lower --min_images")
  return np.flatnonzero(np.isin(y, keep_ids))


def attacker_split(identities, min_images: int = DEFAULT_MIN_IMAGES,
                   probe_fraction: float = DEFAULT_PROBE_FRACTION, seed: int = 0,
                   fold: int = 0) -> AttackerSplit:
  """Keeps identities with more than ``min_images`` images and splits their images.

  The kept images are shuffled once with ``seed`` and cut into round(1/probe_fraction)
  folds; fold ``fold`` is the probe set, the rest the gallery. Rotating ``fold`` over all
  folds makes every image a probe exactly once.
  """
  y = np.asarray(identities)
  keep = kept_indices(y, min_images)
  n_ids = len(np.unique(y))
  n_kept = len(np.unique(y[keep]))
  folds = max(2, int(round(1.0 / probe_fraction)))
  if not 0 <= fold < folds:
    raise ValueError(f"fold {fold} out of range 0..{folds - 1}")
  order = np.random.default_rng(seed).permutation(keep)
  chunks = np.array_split(order, folds)
  probe = np.sort(chunks[fold])
  gallery = np.sort(np.concatenate([c for i, c in enumerate(chunks) if i != fold]))
  seen = np.isin(y[probe], y[gallery])
  return AttackerSplit(gallery, probe[seen], n_kept, n_ids - n_kept, int((~seen).sum()), fold, folds)


def true_ranks(scores, true_col) -> np.ndarray:
  """Rank (1 = best) of the true column in each row of ``scores``; ties get the average rank."""
  s = np.asarray(scores)
  t = s[np.arange(len(s)), true_col][:, None]
  greater = (s > t).sum(1)
  equal = (s == t).sum(1)  # includes the true column itself
  return greater + (equal + 1) / 2.0


def random_references(K: int):
  """Expected normalised log-rank, rank mean and rank std of a uniformly random ranking."""
  log_rank = math.lgamma(K + 1) / (K * math.log(K))
  return log_rank, (K + 1) / (2.0 * K), math.sqrt((K * K - 1) / 12.0) / K


def rank_guarantee(ranks, K, thresholds=GUARANTEE_THRESHOLDS) -> dict:
  """P(rank / K > t) for each t: "with probability p the true identity is not in the top t K".

  ``K`` may be one number or one per rank (pooled folds). Keys are the thresholds as strings.
  """
  r = np.asarray(ranks, np.float64) / np.asarray(K, np.float64)
  return {f"{t:g}": float((r > t).mean()) for t in thresholds}


def log_rank_privacy(ranks, K: int) -> float:
  return float(np.mean(np.log(ranks)) / math.log(K))


def one_nn_error(gallery_f, gallery_y, probe_f, probe_y, chunk: int = 2048) -> float:
  g = np.asarray(gallery_f, np.float64)
  gy = np.asarray(gallery_y)
  gsq = (g * g).sum(1)
  wrong = 0
  for s in range(0, len(probe_f), chunk):
    p = np.asarray(probe_f[s:s + chunk], np.float64)
    d2 = gsq[None, :] - 2.0 * p @ g.T  # + |p|^2, constant per row
    wrong += int((gy[d2.argmin(1)] != np.asarray(probe_y[s:s + chunk])).sum())
  return wrong / len(probe_f)


def privacy(features, identities, split: AttackerSplit, estimator: str = "kde",
            seed: int = 0) -> PrivacyResult:
  """All measures for one attacker split and one estimator of p(y|f)."""
  f, y = check_features(features, identities)
  if estimator not in estimators.ESTIMATORS:
    raise ValueError(f"unknown estimator {estimator!r}; use {', '.join(estimators.ESTIMATORS)}")
  gf, gy, pf, py = f[split.gallery], y[split.gallery], f[split.probe], y[split.probe]
  if len(pf) == 0:
    raise ValueError("the probe set is empty")
  kw = {"seed": seed} if estimator == "classifier" else {}
  classes, scores, notes = estimators.ESTIMATORS[estimator](gf, gy, pf, **kw)
  K = len(classes)
  true_col = np.searchsorted(classes, py)
  ranks = true_ranks(scores, true_col)
  ref = random_references(K)
  return PrivacyResult(
      estimator=estimator, K=K, n_probe=len(pf), log_rank_privacy=log_rank_privacy(ranks, K),
      rank_mean=float(ranks.mean() / K), rank_std=float(ranks.std() / K),
      bayes_error=float((scores.argmax(1) != true_col).mean()),
      one_nn_error=one_nn_error(gf, gy, pf, py), random_log_rank=ref[0],
      random_rank_mean=ref[1], random_rank_std=ref[2], ranks=ranks, notes=notes,
      guarantee=rank_guarantee(ranks, K))


def pooled_privacy(features, identities, estimator="kde", min_images=DEFAULT_MIN_IMAGES,
                   probe_fraction=DEFAULT_PROBE_FRACTION, seed=0, rotate=False) -> PrivacyResult:
  """One split (fold 0), or with ``rotate`` every fold, so that each kept image is a probe once.

  With rotation the ranks of all folds are pooled before the means are taken (K is the same
  in every fold unless an identity's images all fall into one probe fold).
  """
  first = attacker_split(identities, min_images, probe_fraction, seed, 0)
  if not rotate:
    return privacy(features, identities, first, estimator, seed)
  results = [privacy(features, identities, first, estimator, seed)]
  for k in range(1, first.folds):
    results.append(privacy(features, identities,
                           attacker_split(identities, min_images, probe_fraction, seed, k), estimator, seed))
  return combine(results)


def combine(results: list[PrivacyResult]) -> PrivacyResult:
  """Pools the probes of several results (folds of one split, or several seeds) into one."""
  ranks = np.concatenate([r.ranks for r in results])
  Ks = np.concatenate([r.K_per_probe if r.K_per_probe is not None else np.full(len(r.ranks), r.K)
                       for r in results])
  n = len(ranks)
  K = int(round(np.mean(Ks)))
  ref = random_references(K)
  w = np.array([r.n_probe for r in results], float) / n
  return PrivacyResult(
      estimator=results[0].estimator, K=K, n_probe=n,
      log_rank_privacy=float(np.mean(np.log(ranks) / np.log(Ks))),
      rank_mean=float(np.mean(ranks / Ks)), rank_std=float(np.std(ranks / Ks)),
      bayes_error=float(sum(wi * r.bayes_error for wi, r in zip(w, results))),
      one_nn_error=float(sum(wi * r.one_nn_error for wi, r in zip(w, results))),
      random_log_rank=ref[0], random_rank_mean=ref[1], random_rank_std=ref[2], ranks=ranks,
      notes={"pooled": len(results)}, guarantee=rank_guarantee(ranks, Ks), K_per_probe=Ks)
