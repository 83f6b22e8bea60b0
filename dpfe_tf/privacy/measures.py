"""The paper's privacy measures, as pure functions on feature arrays (no model needed).

- **log-rank privacy** (Definition 10): rank the K identities by p(y | f_i), descending, ties
  sharing the average rank (as the reference code); LRP = mean(log rank of the true
  identity) / log K. 0 when the true identity always ranks first; the random-guess
  reference is log(K!) / (K log K) (0.845 for K = 608).
- **rank mean and std** divided by K (Figure 9); random guessing gives (K+1)/2K ~ 0.5 and
  sqrt((K^2-1)/12)/K ~ 0.289.
- **1-NN misclassification** of identity (nearest gallery feature, Euclidean), and the
  attacker's **top-1** accuracy (its top-ranked identity is right; 1 - the paper's Bayes error).

Every attacker (``privacy.attackers``) scores the gallery identities for each probe; ``identify``
turns the scores into these measures, ``pooled`` rotates the split so every image is a probe once.

The attacker's data follow the reference code: identities with more than ``min_images``
images are kept, their images are split 90/10 into gallery (fitting) and probe with a fixed
seed, probe identities unseen in the gallery are dropped; every sample is used once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dpfe_tf.config import DEFAULT_MIN_IMAGES

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
  attacker: str
  K: int                      # identities the attacker ranks
  n_probe: int
  log_rank_privacy: float
  rank_mean: float            # mean rank / K
  rank_std: float             # std of rank / K
  bayes_error: float          # the attacker's top-ranked identity is wrong (1 - top-1)
  one_nn_error: float         # nearest gallery feature has another identity
  random_log_rank: float      # log(K!) / (K log K)
  random_rank_mean: float
  random_rank_std: float
  ranks: np.ndarray = dataclasses.field(repr=False, default=None)  # rank of the true identity, 1..K
  notes: dict = dataclasses.field(default_factory=dict)
  guarantee: dict = dataclasses.field(default_factory=dict)  # t -> P(rank / K > t)
  K_per_probe: np.ndarray = dataclasses.field(repr=False, default=None)  # when folds are pooled

  @property
  def top1(self) -> float:
    return 1.0 - self.bayes_error

  def as_dict(self, with_ranks=False):
    d = dataclasses.asdict(self)
    d["top1"] = self.top1
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


def identify(attacker, data, split: AttackerSplit) -> PrivacyResult:
  """Every measure for one attacker (``privacy.attackers``) on one gallery/probe split of ``data``."""
  f, y = check_features(data.features, data.identities)
  if len(split.probe) == 0:
    raise ValueError("the probe set is empty")
  classes, scores, notes = attacker.scores(data, split.gallery, split.probe)
  py = y[split.probe]
  true_col = np.searchsorted(classes, py)
  if not np.all(classes[np.clip(true_col, 0, len(classes) - 1)] == py):
    raise ValueError(f"{attacker.name}: a probe's identity has no gallery sample")
  scores = np.asarray(scores, np.float64)
  if not np.isfinite(scores).all():
    raise ValueError(f"{attacker.name}: the attacker's scores are not finite")
  K = len(classes)
  ranks = true_ranks(scores, true_col)
  ref = random_references(K)
  return PrivacyResult(
      attacker=attacker.name, K=K, n_probe=len(py), log_rank_privacy=log_rank_privacy(ranks, K),
      rank_mean=float(ranks.mean() / K), rank_std=float(ranks.std() / K),
      bayes_error=float((ranks > 1).mean()),
      one_nn_error=one_nn_error(f[split.gallery], y[split.gallery], f[split.probe], py), random_log_rank=ref[0],
      random_rank_mean=ref[1], random_rank_std=ref[2], ranks=ranks, notes=notes or {},
      guarantee=rank_guarantee(ranks, K))


def splits(identities, min_images=DEFAULT_MIN_IMAGES, probe_fraction=DEFAULT_PROBE_FRACTION, seed=0,
           rotate=True) -> list[AttackerSplit]:
  """Fold 0 only, or with ``rotate`` every fold (each kept image a probe once)."""
  first = attacker_split(identities, min_images, probe_fraction, seed, 0)
  if not rotate:
    return [first]
  return [first] + [attacker_split(identities, min_images, probe_fraction, seed, k) for k in range(1, first.folds)]


def pooled(attacker, data, folds: list[AttackerSplit]) -> PrivacyResult:
  """One attacker over the given folds, probes pooled (``prepare`` called once, with every fold)."""
  attacker.prepare(data, folds)
  results = [identify(attacker, data, s) for s in folds]
  return results[0] if len(results) == 1 else combine(results)


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
      attacker=results[0].attacker, K=K, n_probe=n,
      log_rank_privacy=float(np.mean(np.log(ranks) / np.log(Ks))),
      rank_mean=float(np.mean(ranks / Ks)), rank_std=float(np.std(ranks / Ks)),
      bayes_error=float(sum(wi * r.bayes_error for wi, r in zip(w, results))),
      one_nn_error=float(sum(wi * r.one_nn_error for wi, r in zip(w, results))),
      random_log_rank=ref[0], random_rank_mean=ref[1], random_rank_std=ref[2], ranks=ranks,
      notes={**results[0].notes, "pooled": len(results)}, guarantee=rank_guarantee(ranks, Ks), K_per_probe=Ks)
