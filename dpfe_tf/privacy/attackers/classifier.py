"""A neural identity classifier on the gallery features, tuned by cross-validation (``classifier``).

One hidden layer (ReLU), softmax over the gallery identities, minibatch Adam, L2 weight decay,
on standardised features; its log-softmax ranks the identities. The attacker is entitled to
tune, so it never handicaps itself: at each noise level the capacity, the number of steps and
the weight decay are chosen among ``GRID`` by 2-fold cross-validation on the first fold's
gallery (every identity in every inner fold), by held-out log-rank privacy, then used for every
fold. The training loop is one compiled ``tf.while_loop``, traced once for every shape (minibatches
of 256: a few hundred steps are a few hundred passes over a gallery of a few hundred features),
which trains the classifiers of every fold (or every inner fold) together. XLA compiles it
(``jit_compile``; ``bench/classifier_folds.py`` times it against the plain graph): once per shape,
and a model's galleries keep their shapes over the whole noise grid.
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
_TRAINERS = {}


def _trainer(xla=True):
  """One compiled training loop (minibatch Adam in a while_loop) for every shape and setting,
  training B independent classifiers at once: every tensor has the fits on its first axis (their
  galleries padded to one length, their classes to one count, absent classes masked out of the
  softmax); the losses are summed, so each fit's gradients and Adam moments are its own."""
  if xla in _TRAINERS:
    return _TRAINERS[xla]
  import tensorflow as tf
  f32 = tf.float32
  spec = [(tf.TensorSpec([None, None, None], f32), tf.TensorSpec([None, None], tf.int32),
           tf.TensorSpec([None], f32), tf.TensorSpec([None, None], f32)),
          (tf.TensorSpec([None, None, None], f32), tf.TensorSpec([None, None], f32),
           tf.TensorSpec([None, None, None], f32), tf.TensorSpec([None, None], f32)),
          (tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], f32)),
          tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=spec, jit_compile=xla)
  def train(data, params, hyper, seed):
    """data: x (B, N, d), y (B, N), n (B,) samples of each fit, mask (B, K) 0 or -1e9; params: (w1,
    b1, w2, b2) with a leading B; hyper: (steps, batch size, L2 weight)."""
    x, y, n, mask = data
    steps, batch, l2 = hyper
    lr, b_1, b_2, eps = 3e-3, 0.9, 0.999, 1e-7
    zeros = tuple(tf.zeros_like(p) for p in params)
    fits = tf.shape(x)[0]

    def body(t, p, m, v):
      u = tf.random.stateless_uniform([fits, batch], seed + tf.stack([t, 0]))
      idx = tf.minimum(tf.cast(u * n[:, None], tf.int32), tf.cast(n[:, None], tf.int32) - 1)
      xb, yb = tf.gather(x, idx, batch_dims=1), tf.gather(y, idx, batch_dims=1)
      with tf.GradientTape() as tape:
        tape.watch(p)
        hidden = tf.nn.relu(tf.einsum("bnd,bdh->bnh", xb, p[0]) + p[1][:, None])
        logits = tf.einsum("bnh,bhk->bnk", hidden, p[2]) + p[3][:, None] + mask[:, None]
        per_fit = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits), axis=1)
        loss = tf.reduce_sum(per_fit) + l2 * (tf.reduce_sum(p[0] ** 2) + tf.reduce_sum(p[2] ** 2))
      g = tape.gradient(loss, p)
      m = tuple(b_1 * mi + (1 - b_1) * gi for mi, gi in zip(m, g))
      v = tuple(b_2 * vi + (1 - b_2) * gi * gi for vi, gi in zip(v, g))
      tf_ = tf.cast(t + 1, f32)
      step = lr * tf.sqrt(1 - b_2 ** tf_) / (1 - b_1 ** tf_)
      p = tuple(pi - step * mi / (tf.sqrt(vi) + eps) for pi, mi, vi in zip(p, m, v))
      return t + 1, p, m, v

    _, params, _, _ = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), params, zeros, zeros))
    return params

  _TRAINERS[xla] = train
  return train


def log_softmax(logits):
  """Row-wise log-softmax of (n, K) scores."""
  m = logits.max(1, keepdims=True)
  return logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))


def _train_many(galleries, setting: Setting, seed, batch_size, xla):
  """Trains one classifier per (features, identities) in one loop: ([(classes, mu, sd)], (w1, b1, w2, b2))
  with the fits on the parameters' first axis."""
  prepared = []
  for f, y in galleries:
    g = np.asarray(f, np.float32)
    classes, labels = np.unique(np.asarray(y), return_inverse=True)
    mu, sd = g.mean(0), g.std(0) + 1e-6
    prepared.append(((g - mu) / sd, labels, classes, mu, sd))
  B, d, h = len(prepared), prepared[0][0].shape[1], setting.hidden
  N, K = max(len(p[0]) for p in prepared), max(len(p[2]) for p in prepared)
  x, y, mask = np.zeros((B, N, d), np.float32), np.zeros((B, N), np.int32), np.zeros((B, K), np.float32)
  for b, (g, labels, classes, _, _) in enumerate(prepared):
    x[b, :len(g)], y[b, :len(g)] = g, labels
    mask[b, len(classes):] = -1e9
  rng = np.random.default_rng(seed)
  init = (rng.normal(0, np.sqrt(2.0 / d), (B, d, h)), np.zeros((B, h)), rng.normal(0, np.sqrt(1.0 / h), (B, h, K)),
          np.zeros((B, K)))
  params = tuple(v.numpy() for v in _trainer(xla)(
      (x, y, np.array([len(p[0]) for p in prepared], np.float32), mask),
      tuple(np.asarray(v, np.float32) for v in init),
      (np.int32(setting.steps), np.int32(min(batch_size, N)), np.float32(setting.l2)), np.array([seed, 1], np.int32)))
  return [(classes, mu, sd) for _, _, classes, mu, sd in prepared], params


def fit_many(galleries, setting: Setting, seed=0, batch_size=256, xla=True):
  """Independent classifiers, one per (gallery features, gallery identities), trained together in
  one loop (XLA-compiled unless ``xla`` is False); a list of (classes, predict) with
  ``predict(probe_features) -> log-softmax (n, K)``."""
  fitted, (w1, b1, w2, b2) = _train_many(galleries, setting, seed, batch_size, xla)

  def predictor(b, mu, sd, k):
    def predict(probe):
      hidden = np.maximum((np.asarray(probe, np.float64) - mu) / sd @ w1[b] + b1[b], 0.0)
      return log_softmax((hidden @ w2[b] + b2[b])[:, :k])
    return predict
  return [(classes, predictor(b, mu, sd, len(classes))) for b, (classes, mu, sd) in enumerate(fitted)]


def fit_embedding(features, identities, setting: Setting, seed=0, batch_size=256):
  """``embed(features) -> (n, hidden)``: the hidden ReLU layer of one classifier trained on
  (features, identities), an identity embedding for people it never saw."""
  [(_, mu, sd)], (w1, b1, _, _) = _train_many([(features, identities)], setting, seed, batch_size, True)
  return lambda f: np.maximum((np.asarray(f, np.float64) - mu) / sd @ w1[0] + b1[0], 0.0)


def fit(gallery_f, gallery_y, setting: Setting, seed=0, batch_size=256):
  """(classes, predict) of one classifier (``fit_many`` of one gallery)."""
  return fit_many([(gallery_f, gallery_y)], setting, seed, batch_size)[0]


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
  parts = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]
  scores = {}
  for s in grid:
    terms = []
    for (classes, predict), (_, h) in zip(fit_many([(f[t], y[t]) for t, _ in parts], s, seed), parts):
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
    self._fits = {}

  def prepare(self, data, folds):
    """Tunes on the first fold's gallery, then trains every fold's classifier at once."""
    if len(self.grid) > 1:
      g = folds[0].gallery
      self.setting, self.tuning = tune(data.features[g], data.identities[g], self.grid, seed=data.seed)
    fits = fit_many([(data.features[s.gallery], data.identities[s.gallery]) for s in folds], self.setting, data.seed)
    self._fits = {_key(s.gallery): fitted for s, fitted in zip(folds, fits)}

  def scores(self, data, gallery, probe):
    if _key(gallery) not in self._fits:
      raise ValueError("the classifier attacker scores only the galleries of the folds it was prepared with")
    classes, predict = self._fits[_key(gallery)]
    return classes, predict(data.features[probe]), {"setting": dataclasses.asdict(self.setting),
                                                    "cv_log_rank": self.tuning}


def _key(indices):
  return np.asarray(indices).tobytes()
