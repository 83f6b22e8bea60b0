"""The classifier attacker's folds trained together vs one after another, and XLA vs the plain graph.

    python bench/classifier_folds.py [--identities=20 --images=20 --dim=10 --rounds=3]

Draws features that carry identity (as the demo's: 20 people x 20 photos, 10-d), splits them into
the evaluation's 10 rotating folds, and times, in alternating rounds in one process, the 10
galleries' classifiers trained in one loop (``classifier.fit_many``) against 10 separate loops
(``classifier.fit`` each) and against the same single loop without XLA, with every setting of the
grid; prints seconds (the first call of each shape, which traces and compiles, apart), the ratios
and the mean held-out log-rank privacy of each way (the same attack, so they should agree within
noise).
"""

import os
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_integer("identities", 20, "People.")
flags.DEFINE_integer("images", 20, "Photos per person.")
flags.DEFINE_integer("dim", 10, "Feature dimension.")
flags.DEFINE_integer("rounds", 3, "Alternating rounds.")
F = flags.FLAGS


def main(_):
  import numpy as np

  from dpfe_tf.privacy import measures
  from dpfe_tf.privacy.attackers import classifier

  rng = np.random.default_rng(0)
  y = np.repeat(np.arange(F.identities), F.images)
  x = rng.normal(size=(F.identities, F.dim))[y] * 0.7 + rng.normal(size=(len(y), F.dim))
  folds = [measures.attacker_split(y, 1, 0.1, 0, k) for k in range(10)]
  galleries = [(x[s.gallery], y[s.gallery]) for s in folds]

  def privacy(fits):
    out = []
    for (classes, predict), s in zip(fits, folds):
      ranks = measures.true_ranks(predict(x[s.probe]), np.searchsorted(classes, y[s.probe]))
      out.append(measures.log_rank_privacy(ranks, len(classes)))
    return float(np.mean(out))

  ways = {"together": lambda st: classifier.fit_many(galleries, st),
          "plain graph": lambda st: classifier.fit_many(galleries, st, xla=False),
          "one by one": lambda st: [classifier.fit(g, i, st) for g, i in galleries]}
  first = {w: 0.0 for w in ways}
  for name, way in ways.items():   # trace (and compile) once for each shape before timing
    for st in classifier.GRID:
      t = time.perf_counter()
      way(st)
      first[name] += time.perf_counter() - t
  secs, lrp = {w: 0.0 for w in ways}, {w: [] for w in ways}
  for _ in range(F.rounds):
    for name, way in ways.items():
      for st in classifier.GRID:
        t = time.perf_counter()
        fits = way(st)
        secs[name] += time.perf_counter() - t
        lrp[name].append(privacy(fits))
  for name in ways:
    print(f"{name:<11} {secs[name]:7.2f} s (first calls {first[name]:5.2f} s)  mean log-rank privacy "
          f"{np.mean(lrp[name]):.3f}")
  print(f"one by one / together: {secs['one by one'] / secs['together']:.2f}x; plain graph / XLA: "
        f"{secs['plain graph'] / secs['together']:.2f}x, first calls {first['plain graph'] / first['together']:.2f}x "
        f"(10 folds x {len(classifier.GRID)} settings x {F.rounds} rounds, {len(y)} samples; \"together\" is XLA)")


if __name__ == "__main__":
  app.run(main)
