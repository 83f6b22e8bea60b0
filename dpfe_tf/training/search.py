"""Choosing a defence's weight (beta) and, for DPFE, its margin on validation identities (``--beta=auto``).

On a batch-normalised code the mean squared distance of two features is fixed near 2 x dim,
so the reference y-remover (beta 0.01, margin 10 at dim 10) leaves the hinge always active and
barely moves the features. As the paper did, choose on held-out identities: every candidate is
fine-tuned from the same Simple model for as many epochs as the final stage (``search_epochs``),
then scored on the **validation** partition (never the test one): attribute accuracy and the
worst-case log-rank privacy of the fast attackers (KDE, LDA, tuned classifier; every kept image a
probe once). The most private candidate whose accuracy is within ``accuracy_tolerance`` of
Simple's is kept. A line is printed per candidate as it finishes, with the time left.
"""

from __future__ import annotations

import dataclasses
import shutil
import time

import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import pipeline
from dpfe_tf.models import separation
from dpfe_tf.privacy import attackers as attackers_lib
from dpfe_tf.privacy import measures
from dpfe_tf.privacy.attackers.base import AttackData

SEARCH_ATTACKERS = attackers_lib.FEATURE_ATTACKERS
#: Training images whose features give the LDA attacker its covariance during the search.
PUBLIC_IMAGES = 1024


@dataclasses.dataclass
class Candidate:
  beta: float
  margin: float | None
  margin_rel: float | None
  accuracy: float | None = None
  log_rank_privacy: float | None = None
  attacker: str | None = None
  eligible: bool | None = None
  accuracy_gap_se: float | None = None  # paired standard error of (candidate - Simple) accuracy
  seconds: float | None = None


def validation_scores(split, val, names, min_images, seed=0, public=None):
  """(mean attribute accuracy, worst-case log-rank privacy and its attacker, per-image fraction of
  attributes right) of a split model on ``val``; ``public``: the training partition (for LDA)."""
  f = split.extractor.predict(pipeline.image_batches(val.images, 256), verbose=0)
  logits = split.predictor.predict(f, verbose=0, batch_size=1024)
  labels = val.attributes[:, attrs.attribute_indices(names)]
  acc = attrs.attribute_accuracy(logits, labels, names)["mean_accuracy"]
  kept = measures.kept_indices(val.identities, min_images)
  pub = None if public is None else split.extractor.predict(pipeline.image_batches(public.images, 256), verbose=0)
  data = AttackData(f[kept], val.identities[kept], seed, pub, None if public is None else public.identities)
  folds = measures.splits(data.identities, min_images, seed=seed, rotate=True)
  results = {n: measures.pooled(attackers_lib.make(n), data, folds) for n in SEARCH_ATTACKERS}
  who = min(results, key=lambda n: results[n].log_rank_privacy)
  return acc, results[who].log_rank_privacy, who, attrs.correct_per_image(logits, labels)


def paired_se(a, b) -> float:
  """Standard error of mean(a) - mean(b) over the same images."""
  d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def choose(simple_accuracy: float, candidates: list[Candidate], tolerance: float):
  """The most private candidate with accuracy >= Simple's - tolerance, and why."""
  for c in candidates:
    c.eligible = c.accuracy >= simple_accuracy - tolerance
  ok = [c for c in candidates if c.eligible]
  if ok:
    best = max(ok, key=lambda c: (c.log_rank_privacy, c.accuracy))
    why = (f"most private of the {len(ok)} candidates whose validation accuracy is within "
           f"{100 * tolerance:.1f} points of Simple's ({100 * simple_accuracy:.1f}%)")
  else:
    best = max(candidates, key=lambda c: c.accuracy)
    why = (f"no candidate kept its validation accuracy within {100 * tolerance:.1f} points of "
           f"Simple's ({100 * simple_accuracy:.1f}%): the most accurate one was taken")
  return best, why


def _key(cfg, betas, margins, epochs):
  return {"defence": cfg.defence.name, "betas": list(betas), "margins": list(margins), "epochs": epochs,
          "tolerance": cfg.defence.accuracy_tolerance, "min_images": cfg.min_images, "seed": cfg.seed}


def run(ctx, stage, sampler) -> dict:
  """Runs the search for ``stage``'s defence (``ctx``: the training context); returns and saves it."""
  from dpfe_tf import plots, tables
  from dpfe_tf.training import stages
  cfg, splits = ctx.cfg, ctx.splits
  betas, margins = cfg.defence.candidates(cfg.feature_dim)
  epochs = cfg.defence.search_epochs or cfg.epochs_defence
  key = _key(cfg, betas, margins, epochs)
  saved = stage.read("search.json")
  if saved and saved.get("key") == key:
    print(f"  {cfg.defence.name} weight search: reusing {stage.file('search.json')}", flush=True)
    return saved
  names = cfg.attribute_names
  rng = np.random.default_rng(cfg.seed)
  public = splits.train.subset(np.sort(rng.choice(len(splits.train), min(PUBLIC_IMAGES, len(splits.train)),
                                                  replace=False)))
  simple_acc, simple_lrp, _, simple_right = validation_scores(
      stages._simple_halves(ctx), splits.val, names, cfg.min_images, cfg.seed, public)
  scale = config_lib.margin_scale(cfg.feature_dim)
  cands = [Candidate(b, m, None if m is None else m / scale) for b in betas for m in margins]
  print(f"  {cfg.defence.name} weight search on {splits.val.num_identities} validation identities: "
        f"{len(cands)} candidates x {epochs} epochs from the same Simple model (Simple: accuracy "
        f"{simple_acc:.3f}, log-rank privacy {simple_lrp:.3f})", flush=True)
  t0 = time.time()
  for i, c in enumerate(cands):
    t = time.time()
    cstage = ctx.variant.stage(f"{cfg.defence.name}.search-{i}")
    try:
      model, _ = stages.fit_defence(ctx, cstage, sampler, beta=c.beta, margin=c.margin, epochs=epochs, quiet=True)
      c.accuracy, c.log_rank_privacy, c.attacker, right = validation_scores(
          separation.SplitModel(model.extractor, model.predictor), splits.val, names, cfg.min_images, cfg.seed,
          public)
    finally:
      shutil.rmtree(cstage.path, ignore_errors=True)
    c.accuracy_gap_se = paired_se(right, simple_right)
    c.seconds = round(time.time() - t, 1)
    left = (time.time() - t0) / (i + 1) * (len(cands) - i - 1)
    margin = "" if c.margin is None else f", margin {c.margin:.3g}"
    print(f"  [{i + 1}/{len(cands)}] beta {c.beta:g}{margin}: validation accuracy {c.accuracy:.3f} "
          f"({100 * (c.accuracy - simple_acc):+.1f} points), log-rank privacy {c.log_rank_privacy:.3f} "
          f"({c.attacker}), {c.seconds:.0f} s; about {left / 60:.1f} min left", flush=True)
  best, why = choose(simple_acc, cands, cfg.defence.accuracy_tolerance)
  se = float(np.median([c.accuracy_gap_se for c in cands]))
  if se > cfg.defence.accuracy_tolerance / 2:
    why += (f"; note: on these {len(splits.val)} validation images an accuracy gap has a standard error of "
            f"about {100 * se:.1f} points, so a {100 * cfg.defence.accuracy_tolerance:.1f}-point tolerance is "
            "within noise")
  result = {"key": key, "defence": cfg.defence.name, "simple": {"accuracy": simple_acc, "log_rank_privacy": simple_lrp},
            "candidates": [dataclasses.asdict(c) for c in cands],
            "chosen": {"beta": best.beta, "margin": best.margin, "margin_rel": best.margin_rel},
            "why": why, "partition": "val", "identities": int(splits.val.num_identities)}
  stage.write("search.json", result)
  plots.search(result, stage.file("search.png"))
  print(tables.search_table(result), flush=True)
  return result
