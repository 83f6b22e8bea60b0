"""Time of the vectorised per-identity KDE vs a literal scipy.stats.gaussian_kde loop, same features.

    python bench/kde_vs_scipy.py --n=20000 --dim=10 --identities=600

Prints both times (fit + log-density of every probe under every identity), their ratio and
the largest relative difference of the log-densities. scipy is a dev dependency only.
"""

import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("n", 20000, "Features.")
flags.DEFINE_integer("dim", 10, "Feature dimension.")
flags.DEFINE_integer("identities", 600, "Identities.")
flags.DEFINE_integer("seed", 0, "Seed.")
F = flags.FLAGS


def main(_):
  from scipy.stats import gaussian_kde

  from dpfe_tf.privacy import measures
  from dpfe_tf.privacy.attackers import kde as estimators

  rng = np.random.default_rng(F.seed)
  y = rng.integers(0, F.identities, F.n)
  f = rng.normal(size=(F.n, F.dim)) + 0.5 * rng.normal(size=(F.identities, F.dim))[y]
  split = measures.attacker_split(y, min_images=18, seed=F.seed)
  g, gy, p = f[split.gallery], y[split.gallery], f[split.probe]
  print(f"{F.n} features of dim {F.dim}, {split.kept_identities} identities kept (> 18 images), "
        f"gallery {len(g)}, probes {len(p)}")

  t = time.perf_counter()
  fit = estimators.fit_kde(g, gy)
  ours = estimators.kde_log_density(fit, p)
  t_ours = time.perf_counter() - t

  t = time.perf_counter()
  ref = np.empty_like(ours)
  for k, c in enumerate(fit.classes):
    ref[:, k] = gaussian_kde(g[gy == c].T).logpdf(p.T)
  t_scipy = time.perf_counter() - t

  print(f"vectorised KDE:          {t_ours:8.2f} s")
  print(f"scipy gaussian_kde loop: {t_scipy:8.2f} s")
  print(f"speed-up: {t_scipy / t_ours:.1f}x; max relative difference of log-densities: "
        f"{np.max(np.abs(ours - ref) / np.abs(ref)):.1e}")


if __name__ == "__main__":
  app.run(main)
