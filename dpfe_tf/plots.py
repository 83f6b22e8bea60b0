"""Matplotlib figures of the trade-off curves (the paper's Figures 6-9). Nothing is computed here."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dpfe_tf import io_utils  # noqa: E402

LABELS = {"log_rank_privacy": "log-rank privacy", "one_nn_error": "1-NN identity misclassification",
          "rank_mean": "normalised rank mean", "bayes_error": "Bayes (KDE) identity error"}


def _save(fig, path):
  with io_utils.atomic_path(path, ".png") as tmp:
    fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
  plt.close(fig)


def accuracy_vs_privacy(curves, measure, path, estimator="worst", title=None):
  fig, ax = plt.subplots(figsize=(6, 4.5))
  ref = None
  for c in curves:
    acc, priv = c.arrays(measure, estimator)
    ax.plot(priv, 100 * acc, "o-", ms=4, label=c.name)
    for p, a, pt in zip(priv, acc, c.points):
      if pt.r in (0.0, 1.0, 8.0):
        ax.annotate(f"r={pt.r:g}", (p, 100 * a), fontsize=7, xytext=(3, 3), textcoords="offset points")
    first = next(iter(c.points[0].privacy.values()))
    ref = (first.random_log_rank if measure == "log_rank_privacy" else
           1 - 1 / first.K if measure in ("one_nn_error", "bayes_error") else first.random_rank_mean)
  if ref is not None:
    ax.axvline(ref, color="grey", ls="--", lw=1, label=f"random guess ({ref:.3f})")
  who = "worst case over estimators" if estimator == "worst" else estimator
  ax.set_xlabel(f"{LABELS[measure]} ({who})")
  ax.set_ylabel("primary accuracy (%)")
  ax.set_title(title or f"accuracy vs {LABELS[measure]}")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def rank_mean_std(curves, path, estimator="kde", title=None):
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for c in curves:
    acc = [100 * p.accuracy for p in c.points]
    mean = [p.privacy[estimator].rank_mean for p in c.points]
    std = [p.privacy[estimator].rank_std for p in c.points]
    ax.errorbar(mean, acc, xerr=std, fmt="o-", ms=4, capsize=2, label=c.name)
  ax.axvline(0.5, color="grey", ls="--", lw=1, label="random guess: 0.5 +- 0.289")
  ax.set_xlabel(f"normalised rank of the true identity, mean +- std ({estimator})")
  ax.set_ylabel("primary accuracy (%)")
  ax.set_title(title or "rank of the true identity")
  ax.set_xlim(0, 1)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def rank_guarantee(curves, path, estimator="kde", title=None):
  """P(rank / K > t) against t at noise 0, one curve per model; random guessing gives 1 - t."""
  import numpy as np
  fig, ax = plt.subplots(figsize=(6, 4.5))
  t = np.linspace(0, 1, 201)
  for c in curves:
    p = c.points[0].privacy[estimator]
    r = np.asarray(p.ranks) / p.K
    ax.plot(t, [(r > x).mean() for x in t], label=f"{c.name} (r={c.points[0].r:g})")
  ax.plot(t, 1 - t, color="grey", ls="--", lw=1, label="random guess")
  ax.set_xlabel("t")
  ax.set_ylabel(f"P(rank of the true identity / K > t)  ({estimator})")
  ax.set_title(title or "rank guarantee: the true identity is not in the top t K")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1.02)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def search(result, path):
  """Validation accuracy vs log-rank privacy of the y-remover candidates, Simple and the choice."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  s = result["simple"]
  ax.scatter([s["log_rank_privacy"]], [100 * s["accuracy"]], marker="s", color="black", label="Simple", zorder=3)
  tol = result["key"]["tolerance"]
  ax.axhline(100 * (s["accuracy"] - tol), color="grey", ls=":", lw=1, label=f"Simple - {100 * tol:g} points")
  for c in result["candidates"]:
    chosen = (c["beta"], c["margin"]) == (result["chosen"]["beta"], result["chosen"]["margin"])
    ax.scatter([c["log_rank_privacy"]], [100 * c["accuracy"]], s=70 if chosen else 30,
               color="tab:red" if chosen else "tab:blue", zorder=3)
    ax.annotate(f"b={c['beta']:g}, m={c['margin_rel']:.2g}", (c["log_rank_privacy"], 100 * c["accuracy"]),
                fontsize=7, xytext=(3, 3), textcoords="offset points")
  ax.set_xlabel("validation log-rank privacy (worst of KDE and classifier)")
  ax.set_ylabel("validation accuracy (%)")
  ax.set_title("y-remover search (red: chosen; m in units of sqrt(2 dim))")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def reconstruction_grid(images, rows, path):
  """First row: the input images; then one row of reconstructions per (label, images)."""
  import numpy as np
  n = len(images)
  fig, axes = plt.subplots(1 + len(rows), n, figsize=(1.1 * n + 1.2, 1.35 * (1 + len(rows))), squeeze=False)
  for j in range(n):
    for i, (label, imgs) in enumerate([("input", images)] + list(rows)):
      ax = axes[i, j]
      ax.imshow(np.clip(np.asarray(imgs[j]), 0, 255).astype("uint8"))
      ax.set_xticks([])
      ax.set_yticks([])
      if j == 0:
        ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
  fig.suptitle("reconstructions from what the phone sends", fontsize=9)
  _save(fig, path)
