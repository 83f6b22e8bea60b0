"""Verification (``verification``): are two private features the same person?

A pair model trained on public people pushed through the extractor (same noise): the symmetric
pair features [|a - b|, a * b] -> a small MLP -> same / different, on all same-identity pairs of
the public data (up to ``max_pairs``) and as many random different-identity pairs. Scored on
every same-identity pair of the evaluated people and as many different ones: ROC AUC and the
true-accept rate at 1% false accepts (random: 0.5 and 0.01). The MLP is a two-class
``classifier.fit_many`` (standardised input, one ReLU layer of 64, minibatch Adam): the
classifier attacker's compiled loop, so a new pair model per noise level costs no new trace.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf.privacy.attackers import classifier


@dataclasses.dataclass
class VerificationResult:
  attacker: str
  auc: float
  tar_at_far: dict              # false-accept rate (as a string) -> true-accept rate
  n_same: int
  n_different: int

  def as_dict(self):
    return dataclasses.asdict(self)


def pairs(identities, max_pairs=20000, seed=0):
  """(i, j, same) arrays: every same-identity pair (at most ``max_pairs``) and as many different ones."""
  y = np.asarray(identities)
  rng = np.random.default_rng(seed)
  same = []
  for c in np.unique(y):
    idx = np.flatnonzero(y == c)
    a, b = np.triu_indices(len(idx), 1)
    same.append(np.stack([idx[a], idx[b]], 1))
  same = np.concatenate(same) if same else np.zeros((0, 2), int)
  if len(same) == 0 or len(np.unique(y)) < 2:
    raise ValueError("verification needs two identities or more, some with at least two images")
  if len(same) > max_pairs:
    same = same[rng.choice(len(same), max_pairs, replace=False)]
  diff = []
  while len(diff) < len(same):
    i, j = rng.integers(0, len(y), (2, 2 * len(same)))
    keep = y[i] != y[j]
    diff.extend(zip(i[keep].tolist(), j[keep].tolist()))
  diff = np.array(diff[:len(same)], int).reshape(-1, 2)
  ij = np.concatenate([same, diff])
  return ij[:, 0], ij[:, 1], np.concatenate([np.ones(len(same)), np.zeros(len(diff))])


def pair_features(f, i, j):
  a, b = np.asarray(f[i], np.float32), np.asarray(f[j], np.float32)
  return np.concatenate([np.abs(a - b), a * b], axis=1)


def roc_auc(scores, labels) -> float:
  """Probability that a same pair scores above a different one (ties count half)."""
  from scipy.stats import rankdata
  s, l = np.asarray(scores, np.float64), np.asarray(labels) > 0.5
  r = rankdata(s)
  n1, n0 = l.sum(), (~l).sum()
  return float((r[l].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tar_at_far(scores, labels, fars=(0.01, 0.001)) -> dict:
  s, l = np.asarray(scores), np.asarray(labels) > 0.5
  out = {}
  for far in fars:
    threshold = np.quantile(s[~l], 1 - far)
    out[f"{far:g}"] = float((s[l] > threshold).mean())
  return out


class VerificationAttacker:
  name = "verification"
  summary = "pair model (|a-b|, a*b -> MLP) trained on public people: same person or not"
  needs = ("public_features",)

  def __init__(self, epochs=3, max_pairs=8000, hidden=64, batch_size=256):
    self.epochs, self.max_pairs, self.hidden, self.batch_size = epochs, max_pairs, hidden, batch_size

  def run(self, data) -> VerificationResult:
    pf, py = np.asarray(data.public_features, np.float32), data.public_identities
    i, j, lab = pairs(py, self.max_pairs, data.seed)
    x = pair_features(pf, i, j)
    steps = self.epochs * -(-len(x) // self.batch_size)   # minibatches drawn, as many as the epochs hold
    _, predict = classifier.fit(x, lab.astype(int), classifier.Setting(self.hidden, steps, 0.0), data.seed,
                                self.batch_size)
    ti, tj, tl = pairs(data.identities, self.max_pairs, data.seed + 1)
    log_p = predict(pair_features(np.asarray(data.features, np.float32), ti, tj))
    s = log_p[:, 1] - log_p[:, 0]   # the same-person logit
    return VerificationResult(self.name, roc_auc(s, tl), tar_at_far(s, tl), int(tl.sum()), int((1 - tl).sum()))
