"""A neural identity classifier on the gallery features, tuned by cross-validation (``classifier``).

One hidden layer (ReLU), softmax over the gallery identities, minibatch Adam, L2 weight decay,
on standardised features; its log-softmax ranks the identities. The attacker is entitled to
tune, so it never handicaps itself: at each noise level the capacity, the number of steps and
the weight decay are chosen among ``GRID`` by 2-fold cross-validation on the first fold's
gallery (every identity in every inner fold), by held-out log-rank privacy, then used for every
fold. The training loop is one compiled ``tf.while_loop``, traced once for every shape (minibatches
of 256: a few hundred steps are a few hundred passes over a gallery of a few hundred features).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf.privacy import measures
from dpfe_tf.privacy.attackers import base


@dataclasses.dataclass(frozen=True)
class Setting:
  hidden: int
  steps: int
  l2: float


GRID = (Setting(128, 300, 1e-4), Setting(256, 500, 1e-2), Setting(512, 500, 1e-3))
_TRAIN = None


def _trainer():
  """One compiled training loop (minibatch Adam in a while_loop) for every shape and setting."""
  global _TRAIN
  if _TRAIN is not None:
    return _TRAIN
  import tensorflow as tf
  f32 = tf.float32
  spec = [tf.TensorSpec([None, None], f32), tf.TensorSpec([None], tf.int32),
          (tf.TensorSpec([None, None], f32), tf.TensorSpec([None], f32),
           tf.TensorSpec([None, None], f32), tf.TensorSpec([None], f32)),
          (tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], f32)),
          tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=spec)
  def train(x, y, params, hyper, seed):
    """params: (w1, b1, w2, b2); hyper: (steps, batch size, L2 weight)."""
    steps, batch, l2 = hyper
    lr, b_1, b_2, eps = 3e-3, 0.9, 0.999, 1e-7
    zeros = tuple(tf.zeros_like(p) for p in params)
    n = tf.shape(x)[0]

    def body(t, p, m, v):
      idx = tf.random.stateless_uniform([batch], seed + tf.stack([t, 0]), 0, n, dtype=tf.int32)
      xb, yb = tf.gather(x, idx), tf.gather(y, idx)
      with tf.GradientTape() as tape:
        tape.watch(p)
        logits = tf.nn.relu(xb @ p[0] + p[1]) @ p[2] + p[3]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits)) + \
            l2 * (tf.reduce_sum(p[0] ** 2) + tf.reduce_sum(p[2] ** 2))
      g = tape.gradient(loss, p)
      m = tuple(b_1 * mi + (1 - b_1) * gi for mi, gi in zip(m, g))
      v = tuple(b_2 * vi + (1 - b_2) * gi * gi for vi, gi in zip(v, g))
      tf_ = tf.cast(t + 1, f32)
      step = lr * tf.sqrt(1 - b_2 ** tf_) / (1 - b_1 ** tf_)
      p = tuple(pi - step * mi / (tf.sqrt(vi) + eps) for pi, mi, vi in zip(p, m, v))
      return t + 1, p, m, v

    _, params, _, _ = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), params, zeros, zeros))
    return params

  _TRAIN = train
  return train


def fit(gallery_f, gallery_y, setting: Setting, seed=0, batch_size=256):
  """(classes, predict) of one classifier: ``predict(probe_features) -> log-softmax (n, K)``."""
  g = np.asarray(gallery_f, np.float32)
  mu, sd = g.mean(0), g.std(0) + 1e-6
  classes, y = np.unique(np.asarray(gallery_y), return_inverse=True)
  rng = np.random.default_rng(seed)
  d, K, h = g.shape[1], len(classes), setting.hidden
  init = (rng.normal(0, np.sqrt(2.0 / d), (d, h)), np.zeros(h), rng.normal(0, np.sqrt(1.0 / h), (h, K)), np.zeros(K))
  w1, b1, w2, b2 = (v.numpy() for v in _trainer()(
      (g - mu) / sd, y.astype(np.int32), tuple(np.asarray(v, np.float32) for v in init),
      (np.int32(setting.steps), np.int32(min(batch_size, len(g))), np.float32(setting.l2)),
      np.array([seed, 1], np.int32)))

  def predict(probe):
    logits = np.maximum((np.asarray(probe, np.float64) - mu) / sd @ w1 + b1, 0.0) @ w2 + b2
    m = logits.max(1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
  return classes, predict


def inner_folds(identities, folds=3, seed=0):
  """Fold index of each sample: every identity's samples dealt round-robin over the folds."""
  y = np.asarray(identities)
  out = np.zeros(len(y), int)
  rng = np.random.default_rng(seed)
  for c in np.unique(y):
    idx = rng.permutation(np.flatnonzero(y == c))
    out[idx] = np.arange(len(idx)) % folds
  return out


def tune(features, identities, grid=GRID, folds=2, seed=0) -> tuple[Setting, dict]:
  """The setting with the lowest held-out log-rank privacy (2-fold CV), and every setting's score."""
  f, y = np.asarray(features), np.asarray(identities)
  fold = inner_folds(y, folds, seed)
  scores = {}
  for s in grid:
    terms = []
    for k in range(folds):
      t, h = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
      classes, predict = fit(f[t], y[t], s, seed)
      ok = np.isin(y[h], classes)
      ranks = measures.true_ranks(predict(f[h][ok]), np.searchsorted(classes, y[h][ok]))
      terms.append(np.log(ranks) / np.log(len(classes)))
    scores[s] = float(np.mean(np.concatenate(terms)))
  return min(scores, key=scores.get), {f"{s.hidden}x{s.steps}/l2={s.l2:g}": v for s, v in scores.items()}


class ClassifierAttacker(base.Attacker):
  name = "classifier"
  summary = "MLP identity classifier on the gallery features, capacity/steps/weight decay tuned by CV"

  def __init__(self, grid=GRID):
    self.grid = tuple(grid)
    self.setting, self.tuning = self.grid[0], {}

  def prepare(self, data, folds):
    if len(self.grid) > 1:
      g = folds[0].gallery
      self.setting, self.tuning = tune(data.features[g], data.identities[g], self.grid, seed=data.seed)

  def scores(self, data, gallery, probe):
    classes, predict = fit(data.features[gallery], data.identities[gallery], self.setting, data.seed)
    return classes, predict(data.features[probe]), {"setting": dataclasses.asdict(self.setting),
                                                    "cv_log_rank": self.tuning}
