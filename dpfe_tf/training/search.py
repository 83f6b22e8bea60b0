"""Choosing a defence's weight (beta) and, for DPFE, its margin on validation identities (``--beta=auto``).

On a batch-normalised code the mean squared distance of two features is fixed near 2 x dim,
so the reference y-remover (beta 0.01, margin 10 at dim 10) leaves the hinge always active and
barely moves the features. As the paper did, choose on held-out identities: every candidate is
fine-tuned from the same Simple model for as many epochs as the final stage (``search_epochs``),
then scored on the **validation** partition (never the test one): attribute accuracy and the
worst-case log-rank privacy of the fast attackers (KDE, LDA, tuned classifier; every kept image a
probe once). The most private candidate whose accuracy is within ``accuracy_tolerance`` of
Simple's is kept. A line is printed per candidate as it finishes, with the time left.

``--search_folds=k`` cross-validates on the training people instead: they are split into k folds;
for each, an original MOON and a Simple model are trained on the other folds (the run's original
has seen every training image: on a held-out fold it scored 95.6% against 78.5% on validation
people), every candidate is fine-tuned from that Simple and scored on the fold. Accuracy is pooled
over every training image, privacy averaged over the folds: on the CelebA subset that is 3,916
images against the validation partition's 413, whose accuracy gaps have a standard error near 2
points.
"""

from __future__ import annotations

import dataclasses
import os
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

#: The gallery attackers: the weights of docs/results.md were chosen with these, and the search
#: keeps choosing what it chose then (the final evaluation adds the embedding attacker).
SEARCH_ATTACKERS = attackers_lib.GALLERY_ATTACKERS
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
  key = {"defence": cfg.defence.name, "betas": list(betas), "margins": list(margins), "epochs": epochs,
         "tolerance": cfg.defence.accuracy_tolerance, "min_images": cfg.min_images, "seed": cfg.seed}
  if cfg.defence.search_folds:
    key["folds"] = cfg.defence.search_folds
  return key


def identity_folds(identities, k: int, seed: int) -> list[np.ndarray]:
  """``k`` disjoint groups of people (shuffled by ``seed``) covering every identity, as image masks."""
  people = np.unique(identities)
  if len(people) < 2 * k:
    raise ValueError(f"--search_folds={k} needs at least {2 * k} training identities, there are {len(people)}")
  groups = np.array_split(np.random.default_rng(seed).permutation(people), k)
  return [np.isin(identities, g) for g in groups]


def public_sample(train, seed):
  """The training images whose features give the LDA attacker its covariance."""
  rng = np.random.default_rng(seed)
  return train.subset(np.sort(rng.choice(len(train), min(PUBLIC_IMAGES, len(train)), replace=False)))


@dataclasses.dataclass
class Holdout:
  """People the candidates are scored on, and the context (training images, Simple model) they are
  fine-tuned in: the validation partition, or one fold of the training people (``--search_folds``)."""
  name: str
  ctx: object
  held: object
  public: object
  trains_own: bool = False  # a fold: its original MOON and Simple are trained here, on the other folds


def _folds_root(ctx) -> str:
  """Where the folds' models train during a cross-validated search (removed after it)."""
  return os.path.join(ctx.variant.path, f"{ctx.cfg.defence.name}.search-folds")


def holdouts(ctx) -> list[Holdout]:
  cfg, splits = ctx.cfg, ctx.splits
  if not cfg.defence.search_folds:
    return [Holdout(f"{splits.val.num_identities} validation identities", ctx, splits.val,
                    public_sample(splits.train, cfg.seed))]
  return fold_holdouts(ctx, cfg.defence.search_folds, _folds_root(ctx))


def fold_holdouts(ctx, k: int, root: str) -> list[Holdout]:
  """``k`` folds of ``ctx``'s training people, each a context whose models train under ``root``
  on the other folds (``ctx.cfg``'s recipe, its original MOON trained there too: the run's original
  MOON has seen every training image, the held-out fold's too)."""
  from dpfe_tf import run_dir
  from dpfe_tf.training import stages
  cfg, splits = ctx.cfg, ctx.splits
  fold_cfg = dataclasses.replace(cfg, original_model=None)
  out = []
  for i, held_mask in enumerate(identity_folds(splits.train.identities, k, cfg.seed)):
    rest, held = splits.train.subset(np.flatnonzero(~held_mask)), splits.train.subset(np.flatnonzero(held_mask))
    run = run_dir.RunDir(os.path.join(root, f"fold_{i}"))
    fold_ctx = stages.Context(fold_cfg, run, run.variant(cfg.variant), stages.Splits(rest, held, held), ctx.strategy)
    out.append(Holdout(f"fold {i + 1}/{k} ({held.num_identities} training identities held out)", fold_ctx, held,
                       public_sample(rest, cfg.seed), trains_own=True))
  return out


def simple_split(h: Holdout):
  """The Simple model candidates of ``h`` start from (a fold's, with its original MOON, is trained
  here on the other folds)."""
  from dpfe_tf import run_dir
  from dpfe_tf.training import stages
  if h.trains_own and not h.ctx.stage(run_dir.SIMPLE).done:
    t = time.time()
    for name, train in ((run_dir.ORIGINAL, stages.train_original), (run_dir.SIMPLE, stages.train_simple)):
      if not h.ctx.stage(name).done:
        shutil.rmtree(h.ctx.stage(name).path, ignore_errors=True)
        print(f"  {h.name}: training its {name} model on the other folds", flush=True)
        train(h.ctx)
    print(f"  {h.name}: original MOON and Simple trained in {time.time() - t:.0f} s", flush=True)
  return stages._simple_halves(h.ctx)


def _pool(parts):
  """One score from a candidate's per-holdout (accuracy, privacy, attacker, per-image right):
  accuracy over every held-out image, privacy the mean over holdouts, the attackers named."""
  right = np.concatenate([p[3] for p in parts])
  who = ", ".join(dict.fromkeys(p[2] for p in parts))
  return float(right.mean()), float(np.mean([p[1] for p in parts])), who, right


def _score_candidates(ctx, cands, sampler, epochs, holdouts_):
  """Fine-tunes and scores every candidate on every holdout; returns Simple's pooled score."""
  cfg, names = ctx.cfg, ctx.cfg.attribute_names
  simple_parts, parts = [], [[] for _ in cands]
  todo, done, t0 = len(holdouts_) * len(cands), 0, time.time()
  for h in holdouts_:
    simple_parts.append(validation_scores(simple_split(h), h.held, names, cfg.min_images, cfg.seed, h.public))
    print(f"  {h.name}: Simple accuracy {simple_parts[-1][0]:.3f}, log-rank privacy {simple_parts[-1][1]:.3f}",
          flush=True)
    from dpfe_tf.training import stages
    h_sampler = stages.pair_sampler(h.ctx) if h.trains_own else sampler
    for i, c in enumerate(cands):
      parts[i].append(_fit_and_score(h, c, i, h_sampler, epochs))
      done += 1
      left = (time.time() - t0) / done * (todo - done)
      where = f" {h.name}:" if len(holdouts_) > 1 else ""
      margin = "" if c.margin is None else f", margin {c.margin:.3g}"
      acc, lrp, who, _, seconds = parts[i][-1]
      print(f"  [{done}/{todo}]{where} beta {c.beta:g}{margin}: accuracy {acc:.3f} "
            f"({100 * (acc - simple_parts[-1][0]):+.1f} points), log-rank privacy {lrp:.3f} ({who}), "
            f"{seconds:.0f} s; about {left / 60:.1f} min left", flush=True)
  simple = _pool(simple_parts)
  for c, p in zip(cands, parts):
    c.accuracy, c.log_rank_privacy, c.attacker, right = _pool(p)
    c.accuracy_gap_se = paired_se(right, simple[3])
    c.seconds = round(sum(x[4] for x in p), 1)
  return simple


def _fit_and_score(h: Holdout, c: Candidate, i: int, sampler, epochs):
  from dpfe_tf.training import stages
  cfg = h.ctx.cfg
  t = time.time()
  cstage = h.ctx.variant.stage(f"{cfg.defence.name}.search-{i}")
  try:
    model, _ = stages.fit_defence(h.ctx, cstage, sampler, beta=c.beta, margin=c.margin, epochs=epochs, quiet=True)
    scores = validation_scores(separation.SplitModel(model.extractor, model.predictor), h.held,
                               cfg.attribute_names, cfg.min_images, cfg.seed, h.public)
  finally:
    shutil.rmtree(cstage.path, ignore_errors=True)
  return (*scores, time.time() - t)


def run(ctx, stage, sampler) -> dict:
  """Runs the search for ``stage``'s defence (``ctx``: the training context); returns and saves it."""
  from dpfe_tf import plots, tables
  cfg = ctx.cfg
  betas, margins = cfg.defence.candidates(cfg.feature_dim)
  epochs = cfg.defence.search_epochs or cfg.epochs_defence
  key = _key(cfg, betas, margins, epochs)
  saved = stage.read("search.json")
  if saved and saved.get("key") == key:
    print(f"  {cfg.defence.name} weight search: reusing {stage.file('search.json')}", flush=True)
    return saved
  scale = config_lib.margin_scale(cfg.feature_dim)
  cands = [Candidate(b, m, None if m is None else m / scale) for b in betas for m in margins]
  hs = holdouts(ctx)
  folds = cfg.defence.search_folds
  where = (f"{folds} folds of the {ctx.splits.train.num_identities} training identities: {len(cands)} candidates x "
           f"{epochs} epochs from each fold's Simple model (its original MOON and Simple trained on the other folds)"
           if folds else f"{hs[0].name}: {len(cands)} candidates x {epochs} epochs from the same Simple model")
  print(f"  {cfg.defence.name} weight search on {where}", flush=True)
  try:
    simple_acc, simple_lrp, _, _ = _score_candidates(ctx, cands, sampler, epochs, hs)
  finally:
    if folds:
      shutil.rmtree(_folds_root(ctx), ignore_errors=True)
  best, why = choose(simple_acc, cands, cfg.defence.accuracy_tolerance)
  held = sum(len(h.held) for h in hs)
  se = float(np.median([c.accuracy_gap_se for c in cands]))
  if se > cfg.defence.accuracy_tolerance / 2:
    why += (f"; note: on these {held} held-out images an accuracy gap has a standard error of "
            f"about {100 * se:.1f} points, so a {100 * cfg.defence.accuracy_tolerance:.1f}-point tolerance is "
            "within noise")
  result = {"key": key, "defence": cfg.defence.name, "simple": {"accuracy": simple_acc, "log_rank_privacy": simple_lrp},
            "candidates": [dataclasses.asdict(c) for c in cands],
            "chosen": {"beta": best.beta, "margin": best.margin, "margin_rel": best.margin_rel},
            "why": why, "partition": f"train ({folds} folds)" if folds else "val",
            "identities": int(sum(h.held.num_identities for h in hs)), "images": held}
  stage.write("search.json", result)
  plots.search(result, stage.file("search.png"))
  print(tables.search_table(result), flush=True)
  return result
