"""Matplotlib figures of the trade-off curves (the paper's Figures 6-9). Nothing is computed here."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dpfe_tf import io_utils  # noqa: E402

LABELS = {"log_rank_privacy": "log-rank privacy", "one_nn_error": "1-NN identity misclassification",
          "rank_mean": "normalised rank mean", "bayes_error": "identity error of the attacker's top guess",
          "top1": "attacker's top-1 identification rate"}


def _save(fig, path):
  with io_utils.atomic_path(path, ".png") as tmp:
    fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
  plt.close(fig)


def _reference(result, measure):
  return {"log_rank_privacy": result.random_log_rank, "one_nn_error": 1 - 1 / result.K,
          "bayes_error": 1 - 1 / result.K, "top1": 1 / result.K}.get(measure, result.random_rank_mean)


def accuracy_vs_privacy(curves, measure, path, attacker="worst", title=None):
  """Primary accuracy against a privacy measure, one line per model, one point per noise scale r."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  ref = None
  for c in curves:
    pts = [p for p in c.points if attacker == "worst" or attacker in p.privacy]
    acc = [100 * p.accuracy for p in pts]
    priv = [p.value(measure, attacker) for p in pts]
    ax.plot(priv, acc, "o-", ms=4, label=c.name)
    for x, a, pt in zip(priv, acc, pts):
      if pt.r in (0.0, 1.0, 8.0):
        ax.annotate(f"r={pt.r:g}", (x, a), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ref = _reference(next(iter(pts[0].privacy.values())), measure)
  if ref is not None:
    ax.axvline(ref, color="grey", ls="--", lw=1, label=f"random guess ({ref:.3f})")
  chance = max((c.chance for c in curves if c.chance is not None), default=None)
  if chance is not None:  # below it sending nothing is as accurate: the verdicts are judged above it
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label=f"constant guess ({100 * chance:.1f}%)")
  who = "worst case over the attackers" if attacker == "worst" else attacker
  ax.set_xlabel(f"{LABELS[measure]} ({who})")
  ax.set_ylabel("primary accuracy (%)")
  ax.set_title(title or f"accuracy vs {LABELS[measure]}")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def attackers_at_noise0(curves, path, measure="log_rank_privacy"):
  """Each attacker's measure at the first noise level, grouped by model: who is the worst case."""
  import numpy as np
  names = list(dict.fromkeys(a for c in curves for a in c.points[0].privacy))
  fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(curves) * max(1, len(names)) / 3, 4.2))
  width = 0.8 / max(1, len(names))
  x = np.arange(len(curves))
  for i, a in enumerate(names):
    vals = [c.points[0].value(measure, a) if a in c.points[0].privacy else np.nan for c in curves]
    ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=a)
  ref = _reference(next(iter(curves[0].points[0].privacy.values())), measure)
  ax.axhline(ref, color="grey", ls="--", lw=1, label=f"random guess ({ref:.3f})")
  ax.set_xticks(x)
  ax.set_xticklabels([c.name for c in curves], fontsize=8)
  ax.set_ylabel(f"{LABELS[measure]} at r = {curves[0].points[0].r:g}")
  ax.set_title("every attacker on the same probes (lower = more identity leaked)" if measure == "log_rank_privacy"
               else f"every attacker: {LABELS[measure]}")
  ax.grid(alpha=0.3, axis="y")
  ax.legend(fontsize=7, ncol=2)
  _save(fig, path)


def _paper_attacker(curves):
  """The paper's figures use its KDE attacker when it was run, else the worst case."""
  return "kde" if all("kde" in c.points[0].privacy for c in curves) else "worst"


def rank_mean_std(curves, path, estimator=None, title=None):
  estimator = estimator or _paper_attacker(curves)
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for c in curves:
    pts = [p for p in c.points if estimator == "worst" or estimator in p.privacy]
    res = [p.privacy[estimator if estimator != "worst" else p.worst()[1]] for p in pts]
    acc = [100 * p.accuracy for p in pts]
    mean = [r.rank_mean for r in res]
    std = [r.rank_std for r in res]
    ax.errorbar(mean, acc, xerr=std, fmt="o-", ms=4, capsize=2, label=c.name)
  ax.axvline(0.5, color="grey", ls="--", lw=1, label="random guess: 0.5 +- 0.289")
  ax.set_xlabel(f"normalised rank of the true identity, mean +- std ({estimator})")
  ax.set_ylabel("primary accuracy (%)")
  ax.set_title(title or "rank of the true identity")
  ax.set_xlim(0, 1)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def rank_guarantee(curves, path, estimator=None, title=None):
  """P(rank / K > t) against t at noise 0, one curve per model; random guessing gives 1 - t."""
  import numpy as np
  estimator = estimator or _paper_attacker(curves)
  fig, ax = plt.subplots(figsize=(6, 4.5))
  t = np.linspace(0, 1, 201)
  for c in curves:
    pt = c.points[0]
    p = pt.privacy[estimator if estimator != "worst" else pt.worst()[1]]
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
  """Validation accuracy vs log-rank privacy of the defence weight candidates, Simple and the choice."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  s = result["simple"]
  ax.scatter([s["log_rank_privacy"]], [100 * s["accuracy"]], marker="s", color="black", label="Simple", zorder=3)
  tol = result["key"]["tolerance"]
  ax.axhline(100 * (s["accuracy"] - tol), color="grey", ls=":", lw=1, label=f"Simple - {100 * tol:g} points")
  for c in result["candidates"]:
    chosen = (c["beta"], c["margin"]) == (result["chosen"]["beta"], result["chosen"]["margin"])
    ax.scatter([c["log_rank_privacy"]], [100 * c["accuracy"]], s=70 if chosen else 30,
               color="tab:red" if chosen else "tab:blue", zorder=3)
    label = f"b={c['beta']:g}" + ("" if c.get("margin_rel") is None else f", m={c['margin_rel']:.2g}")
    ax.annotate(label, (c["log_rank_privacy"], 100 * c["accuracy"]), fontsize=7, xytext=(3, 3),
                textcoords="offset points")
  ax.set_xlabel("validation log-rank privacy (worst case over the search's attackers)")
  ax.set_ylabel("validation accuracy (%)")
  ax.set_title(f"{result.get('defence', 'defence')} weight search (red: chosen; m in units of sqrt(2 dim))")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def operating_point(result: dict, path):
  """Accuracy under each noise level r of Simple and the defended model where the operating noise
  was chosen, the tolerance line, and the chosen r."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for key, label, colour in (("simple", "Simple", "black"), ("defended", result["defence"], "tab:red")):
    rs = [float(r) for r in result[key]]
    ax.plot(rs, [100 * v for v in result[key].values()], marker="o", color=colour, label=label)
  floor = 100 * (result["simple"]["0"] - result["tolerance"])
  ax.axhline(floor, color="grey", ls=":", lw=1, label=f"Simple at r = 0 - {100 * result['tolerance']:g} points")
  if result["noise"] is not None:
    ax.axvline(result["noise"], color="tab:red", ls="--", lw=1, label=f"chosen r = {result['noise']:g}")
  rs = [float(r) for r in result["defended"]]
  ax.set_xscale("symlog", linthresh=max(min(r for r in rs if r > 0), 1e-3))
  ax.set_xlim(0, rs[-1] * 1.1)
  ax.set_xticks(rs, [f"{r:g}" for r in rs])
  ax.set_xlabel(f"noise scale r ({result['noise_shape']} noise)")
  ax.set_ylabel("accuracy (%)")
  ax.set_title(f"operating noise on {result['where']}: {result['identities']} people, {result['images']} images",
               fontsize=10)
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


def label_frontier(result, path, title=None):
  """A variant's trade-off curves (worst-case log-rank privacy) beside the labels-only frontier
  (``privacy.label_ceiling``): how far each model is from a feature carrying only its labels."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for name, pts in result.curves.items():
    ax.plot([p for _, p in pts], [100 * a for a, _ in pts], "o-", ms=4, label=f"{name} (noise r = 0 ... max)")
  f = result.frontier
  ax.plot([r.log_rank_privacy for r in f], [100 * r.accuracy for r in f], "k--", marker="s", ms=4,
          label="the labels alone, flipped at random")
  for r in f:
    if r.interval is not None:
      ax.plot(r.interval, [100 * r.accuracy] * 2, "k-", lw=1)
  target = [r for r in result.rows if r.feature.startswith("target")]
  if target:
    ax.axvline(target[0].log_rank_privacy, color="red", ls=":", label=target[0].feature)
  ax.set_xlabel("worst-case log-rank privacy (higher: more private)")
  ax.set_ylabel("attribute accuracy (%)")
  ax.set_title(title or f"accuracy vs privacy, and the labels-only frontier\n({result.setting})", fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def noise_shapes(series: dict, path, title=None, random_guess=None, target=None):
  """Trade-off curves of the same models under different noise shapes: ``series`` maps a label
  ("dpfe, predictor noise") to its points [(r, accuracy, worst-case log-rank privacy)]; a model
  keeps its colour, the isotropic noise is dashed. ``target``: (label, privacy) drawn as a line."""
  fig, ax = plt.subplots(figsize=(6.4, 4.6))
  colours = {}
  for label, pts in series.items():
    model, dashed = label.split(",")[0], "isotropic" in label
    colour = colours.setdefault(model, f"C{len(colours)}")
    ax.plot([p for _, _, p in pts], [100 * a for _, a, _ in pts], "o--" if dashed else "o-", ms=4, color=colour,
            label=label)
    for r, a, p in pts:
      if r in ((1.0, 8.0) if dashed else (0.0, 4.0, 16.0)):
        ax.annotate(f"r={r:g}", (p, 100 * a), fontsize=7, xytext=(3, 3), textcoords="offset points", color=colour)
  if target is not None:
    ax.axvline(target[1], color="red", ls=":", lw=1, label=f"{target[0]} ({target[1]:.3f})")
  if random_guess is not None:
    ax.axvline(random_guess, color="grey", ls=":", lw=1, label=f"random guess ({random_guess:.3f})")
  ax.set_xlabel("worst-case log-rank privacy (higher: more private)")
  ax.set_ylabel("attribute accuracy (%)")
  ax.set_title(title or "the paper's isotropic noise (dashed) vs noise the predictor does not read (solid)",
               fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)
