"""Procedure 2 on trained models: features -> noise -> accuracy and every attacker -> curves, verdicts.

Computation only: ``dpfe_tf.evaluate`` is the command, ``plots`` draws, ``tables`` formats.

For each model (a trained stage), on the evaluated partition (``split``, default test: people
never seen in training): the private features, Gaussian noise N(0, r C) over the noise grid, the
cloud predictor's accuracy and every attacker's measures on the same probes (every kept image a
probe once). The attacker's public data are the training partition (other people) through the
same extractor; its photos are the evaluated images' own files. With ``seeds`` > 1 each model is
trained again with seeds + 1..seeds-1 (from the same original MOON, with the weight seed 0 chose;
with ``seeds_retrain="original"`` each seed trains its own original MOON first) and the curves are
pooled; intervals are stratified by seed, and each seed's own noise-0 figures give a Student-t
interval across the seeds beside them (``intervals.across_seeds``).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import run_dir
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import pipeline
from dpfe_tf.privacy import attackers as attackers_lib
from dpfe_tf.privacy import face, intervals, measures, noise, tradeoff


@dataclasses.dataclass
class EvalModel:
  """A trained split stage ready to evaluate."""
  name: str
  stage: run_dir.Stage
  split: object                 # models.separation.SplitModel
  attribute_names: tuple
  data: config_lib.DataConfig   # what it was trained on

  @property
  def image_size(self):
    return tuple(self.split.extractor.input_shape[1:3])

  def features(self, faces) -> np.ndarray:
    return self.split.extractor.predict(pipeline.image_batches(faces.images, 256), verbose=0)

  def predict(self, features) -> np.ndarray:
    return self.split.predictor.predict(features, batch_size=1024, verbose=0)


@dataclasses.dataclass
class EvaluationResult:
  curves: list
  verdicts: list
  point_ci: dict
  notes: list
  meta: dict


def load(stage: run_dir.Stage, name=None) -> EvalModel:
  cfg = stage.train_config()
  check_demo_faces(stage, cfg.data)
  split = stage.halves()
  names = cfg.attribute_names
  if split.predictor.output_shape[-1] != len(names):
    raise ValueError(f"{stage.path}: the predictor has {split.predictor.output_shape[-1]} outputs, config.json "
                     f"lists {len(names)} attributes")
  return EvalModel(name or stage.name, stage, split, names, cfg.data)


def check_demo_faces(stage: run_dir.Stage, data: config_lib.DataConfig):
  """A stage trained on another version of the demo faces would be evaluated on other people (and
  its attackers trained on other public ones): refused in one line."""
  ident = stage.identity() or {}
  saved = ident.get("data") or (ident.get("simple") or {}).get("data")
  if data.synthetic and saved and saved.startswith("synthetic:") and saved != data.identity:
    raise ValueError(f"{stage.path} was trained on other demo faces ({saved.split(':', 1)[1]}; this version "
                     f"draws {data.identity.split(':', 1)[1]}): train it again, e.g. python -m dpfe_tf.train "
                     "--overwrite with its flags, or in a new --output_dir")


def original_pca(stage: run_dir.Stage, train) -> EvalModel:
  """The baseline of the original MOON's raw cut, PCA to the feature dim (Simple before its fine-tuning)."""
  from dpfe_tf.training import stages as stages_lib
  cfg = stage.train_config()
  original = run_dir.load_model(run_dir.original_of(stage), "the original MOON")
  split = stages_lib.pca_start(cfg, original, train, {})
  return EvalModel("original-pca", stage, split, cfg.attribute_names, cfg.data)


def model_names(stages) -> list[str]:
  """Short unique names: the stage name, prefixed by its variant when stages repeat."""
  short = [s.name for s in stages]
  if len(set(short)) == len(short):
    return short
  return [f"{run_dir.variant_of(s).name}/{s.name}" for s in stages]


def check_comparable(models: list[EvalModel]):
  """Models compared on one set of probes must take the same images; say what differs otherwise."""
  sizes = {m.image_size for m in models}
  if len(sizes) > 1:
    raise ValueError("the models take different image sizes (" + ", ".join(
        f"{m.name}: {m.image_size[0]}x{m.image_size[1]}" for m in models) + "); evaluate them separately")
  datas = {m.data.data_dir for m in models}
  if len(datas) > 1:
    raise ValueError("the models were trained on different data (" + ", ".join(
        f"{m.name}: {m.data.data_dir or 'the embedded demo'}" for m in models) + "); pass --data_dir to evaluate "
        "them on one data set, or evaluate them separately")


def seed_stage(stage: run_dir.Stage, k: int, own_original: bool = False) -> run_dir.Stage:
  """Seed k's copy of a stage, trained (Simple and this stage; with ``own_original`` its own original
  MOON first, in a run folder of its own) if missing."""
  if k == 0:
    return stage
  from dpfe_tf.training import stages as stages_lib
  variant = run_dir.variant_of(stage)
  seed_variant = variant.seed(k, own_original)
  target = seed_variant.stage(stage.name)
  if target.done:
    return target
  cfg = stage.train_config()
  if stage.name != run_dir.SIMPLE:  # the weight seed 0 chose, not a new search
    chosen = stage.metrics().get("defence", {})
    cfg = dataclasses.replace(cfg, defence=dataclasses.replace(
        cfg.defence, beta=chosen.get("beta", cfg.defence.beta), margin=chosen.get("margin")))
  if own_original:
    cfg = cfg.for_seed(k, None, output_dir=seed_variant.path)
  else:
    cfg = cfg.for_seed(k, run_dir.original_of(stage))
  todo = ((run_dir.ORIGINAL,) if own_original else ()) + (
      (run_dir.SIMPLE,) if stage.name == run_dir.SIMPLE else (run_dir.SIMPLE, stage.name))
  print(f"== seed {cfg.seed}: {', '.join(todo)} in {seed_variant.path}", flush=True)
  stages_lib.run(cfg, todo, variant=seed_variant)
  return target


class _Sources:
  """The evaluated images, the attacker's public data and the photo embeddings, loaded once."""

  def __init__(self, cfg: config_lib.EvalConfig, model: EvalModel, names: list[str]):
    data = model.data if cfg.data_dir is None else config_lib.DataConfig(
        cfg.data_dir, model.image_size, cfg.cache_dir or model.data.cache_dir)
    data = dataclasses.replace(data, image_size=model.image_size, cache_dir=cfg.cache_dir or data.cache_dir)
    self.evaluated = data.load(cfg.split, limit=cfg.limit)
    public_cfg = dataclasses.replace(model.data, image_size=model.image_size,
                                     cache_dir=cfg.cache_dir or model.data.cache_dir)
    self.public = None
    self.notes = []
    needs_public = any(n in names for n in attackers_lib.USE_PUBLIC)
    if needs_public or cfg.noise_shape == "predictor":
      if cfg.data_dir is None and cfg.split == "train":
        self.notes.append("no public data for the attackers: the evaluated partition is the training one")
      else:
        self.public = public_cfg.load("train")
    self.photos = self.public_photos = None
    if any(n in names for n in attackers_lib.FACE_ATTACKERS):
      self.photos, found = face.photo_embeddings(self.evaluated, data.cache_dir)
      self.notes.append(f"face recogniser: a face was detected in {found.mean():.1%} of the {len(found)} evaluated "
                        "photos (the others use the whole aligned crop)")
      if "linkage" in names and self.public is not None:
        self.public_photos, _ = face.photo_embeddings(self.public, public_cfg.cache_dir)

  def evidence(self):
    return tradeoff.Evidence(self.photos, self.public_photos,
                             None if self.public is None else np.asarray(self.public.images))


def _usable(names, sources: _Sources):
  """The attackers whose inputs exist (the others are left out with a note)."""
  out = []
  for n in names:
    if n in attackers_lib.NEED_PUBLIC and sources.public is None:
      sources.notes.append(f"{n} attacker not run: no public data")
      continue
    out.append(n)
  return out


def evaluate(cfg: config_lib.EvalConfig, progress=True) -> EvaluationResult:
  """Loads (training missing seeds), evaluates every model on the same probes, compares them."""
  stage_lists = [run_dir.stages_at(d) for d in cfg.model_dirs]
  alone = [f"{d}: only its {lst[0].name} stage is finished (a defence still training, or none trained)"
           for d, lst in zip(cfg.model_dirs, stage_lists) if len(lst) == 1 and not run_dir.Stage(d).is_split]
  base = [s for lst in stage_lists for s in lst]
  names = model_names(base)
  first = [load(s, n) for s, n in zip(base, names)]
  if cfg.data_dir is None:
    check_comparable(first)
  else:
    check_comparable([dataclasses.replace(m, data=first[0].data) for m in first])
  wanted, notes = attackers_lib.resolve(cfg.attackers, photos=_photo_files(cfg, first[0]))
  notes = alone + notes
  if "reconstruction" in wanted and not cfg.reconstruction_noise:
    wanted.remove("reconstruction")
    notes.append("reconstruction attacker not run (--reconstruction_noise is empty)")
  sources = _Sources(cfg, first[0], wanted)
  wanted = _usable(wanted, sources)
  train = None
  if "original_pca" in cfg.baselines:
    train = sources.public  # the training partition, already loaded for the attackers
    if train is None:
      train = dataclasses.replace(first[0].data, image_size=first[0].image_size).load("train")
    first = [original_pca(base[0], train)] + first
    base = [base[0]] + base
    names = ["original-pca"] + names
  own = cfg.seeds_retrain == "original"
  per_seed = []
  for k in range(cfg.seeds):
    models = first if k == 0 else [_seed_model(m, s, n, k, own, train) for m, s, n in zip(first, base, names)]
    per_seed.append(_curves(cfg, k, models, wanted, sources, progress))
    if progress and cfg.seeds > 1:  # each seed's figures as soon as they exist (a long run may be stopped)
      print(f"seed {cfg.seed + k} at noise {cfg.noise_grid[0]:g}: " + "; ".join(
          "{} accuracy {:.3f}, log-rank privacy {:.3f} ({})".format(c.name, c.points[0].accuracy, *c.points[0].worst())
          for c in per_seed[-1]), flush=True)
  ceiling = face_ceiling(cfg, sources, len(per_seed)) if sources.photos is not None else None
  curves = [tradeoff.pool([s[i] for s in per_seed]) if cfg.seeds > 1 else per_seed[0][i]
            for i in range(len(first))]
  notes = notes + sources.notes
  if "reconstruction" in wanted:
    notes.append(f"reconstruction attacker run at noise {', '.join(f'{r:g}' for r in cfg.reconstruction_noise)} "
                 "only (a decoder per level); the worst case elsewhere is over the other attackers")
  for c in curves:
    c.notes = notes
  groups = None
  if cfg.seeds > 1:  # bootstrap strata: which seed each pooled probe and sample came from
    groups = {"probe": np.concatenate([np.full(s[0].points[0].privacy[next(iter(s[0].points[0].privacy))].n_probe, k)
                                       for k, s in enumerate(per_seed)]),
              "sample": np.concatenate([np.full(len(s[0].points[0].correct), k) for k, s in enumerate(per_seed)])}
  if cfg.against is not None and cfg.against not in [c.name for c in curves]:
    raise ValueError(f"no model named {cfg.against!r} to compare against (models: {', '.join(c.name for c in curves)})")
  verdicts, point_ci = compare(curves, cfg.bootstrap, cfg.seed, groups, cfg.against, cfg.operating_noise)
  if cfg.seeds > 1:
    add_across_seeds(per_seed, verdicts, point_ci, cfg.seeds_retrain)
  meta = {"data_dir": sources.evaluated.data_dir, "split": cfg.split, "images": len(sources.evaluated),
          "identities": sources.evaluated.num_identities, "models": {m.name: m.stage.path for m in first},
          "noise_grid": list(cfg.noise_grid), "noise_shape": cfg.noise_shape, "seed": cfg.seed, "seeds": cfg.seeds,
          "seeds_retrain": cfg.seeds_retrain if cfg.seeds > 1 else None,
          "rotated": cfg.rotate or cfg.seeds > 1, "bootstrap": cfg.bootstrap, "attackers": wanted,
          "public_data": None if sources.public is None else {"images": len(sources.public),
                                                                "identities": sources.public.num_identities},
          "notes": notes, "face_recogniser_ceiling": ceiling}
  return EvaluationResult(curves, verdicts, point_ci, notes, meta)


def _seed_model(first: EvalModel, stage: run_dir.Stage, name: str, k: int, own_original: bool, train) -> EvalModel:
  """Seed k's copy of a model: the stage trained again with seed k; the original-PCA baseline is the
  run's own unless each seed has its own original MOON."""
  if first.name != "original-pca":
    return load(seed_stage(stage, k, own_original), name)
  return original_pca(seed_stage(stage, k, own_original), train) if own_original else first


def noise0_worst(curve) -> float:
  """The worst case over the attackers of a curve's first point (noise 0 on the default grid)."""
  return curve.points[0].worst("log_rank_privacy")[0]


def add_across_seeds(per_seed: list, verdicts: list, point_ci: dict, retrain: str = "simple"):
  """Each seed's own figures at the first noise level (the worst attacker chosen on each seed) and a
  Student-t interval of their mean over the seeds: into each model's first point interval and into
  each log-rank verdict (the gap of the pair, seed by seed). ``retrain``: what each seed trained
  again (``EvalConfig.seeds_retrain``), recorded beside the figures."""
  by_name = [{c.name: c for c in seed} for seed in per_seed]
  for name, cis in point_ci.items():
    if cis and cis[0] is not None:
      cis[0]["across_seeds"] = {
          "log_rank_privacy": intervals.across_seeds([noise0_worst(s[name]) for s in by_name]),
          "accuracy": intervals.across_seeds([s[name].points[0].accuracy for s in by_name])}
  for v in verdicts:
    if v["measure"] == "log_rank_privacy" and v.get("interval"):
      v["interval"]["across_seeds"] = {**intervals.across_seeds(
          [noise0_worst(s[v["a"]]) - noise0_worst(s[v["b"]]) for s in by_name]), "retrained": retrain}


def _curves(cfg, k, models, wanted, sources, progress) -> list:
  """Seed k's curve of every model: each with its own attackers, all on the same probes."""
  bar = io_progress(progress, len(models) * len(cfg.noise_grid),
                    f"evaluating {len(models)} model(s) x {len(cfg.noise_grid)} noise levels ({cfg.noise_shape}), attackers "
                    f"{', '.join(wanted)}" + (f" (seed {k})" if cfg.seeds > 1 else ""))
  settings = curve_settings(cfg, k)
  curves = []
  for m in models:
    identifying = [attackers_lib.make(n, cfg.reconstruction_noise) for n in wanted if n != attackers_lib.VERIFICATION]
    verifier = attackers_lib.make(attackers_lib.VERIFICATION) if attackers_lib.VERIFICATION in wanted else None
    labels = sources.evaluated.attributes[:, attrs.attribute_indices(m.attribute_names)]
    public = sources.public
    public_features = None if public is None else m.features(public)
    directions = None
    if cfg.noise_shape == "predictor":
      directions, share = noise.predictor_directions(m.split.predictor, public_features)
      if k == 0:
        sources.notes.append(f"{m.name}: the noise spares {directions.shape[1]} direction(s), {share:.0%} of the "
                             "predictor's gradient energy on the training people (a local measure: accuracy under large noise is measured)")
    md = tradeoff.ModelData(m.name, m.features(sources.evaluated), sources.evaluated.identities, labels,
                            m.attribute_names, m.predict, public_features,
                            None if public is None else public.identities, directions)
    curves.append(tradeoff.tradeoff_curve(md, identifying, settings, sources.evidence(), verifier,
                                          bar.add if bar else None))
  return curves


def curve_settings(cfg: config_lib.EvalConfig, k: int) -> tradeoff.CurveSettings:
  """Seed k's probes and noise (each seed its own split and noise; rotated when seeds are pooled)."""
  return tradeoff.CurveSettings(cfg.noise_grid, cfg.min_images, cfg.probe_fraction, cfg.seed + k,
                                cfg.rotate or cfg.seeds > 1)


def face_ceiling(cfg, sources, n_seeds: int) -> dict:
  """The face recogniser on the probes' own real photos, on each seed's probes, pooled: the most a
  photo-based attacker could reach (printed beside the linkage and reconstruction attackers)."""
  from dpfe_tf.privacy.attackers.linkage import RealPhotoCeiling
  y = np.asarray(sources.evaluated.identities)
  results = []
  for k in range(n_seeds):
    kept, folds = tradeoff.probe_folds(y, curve_settings(cfg, k))
    photos = sources.photos[kept]
    data = tradeoff.AttackData(photos, y[kept], cfg.seed + k, photos=photos)
    results.append(measures.pooled(RealPhotoCeiling(), data, folds))
  r = results[0] if len(results) == 1 else measures.combine(results)
  return {"log_rank_privacy": r.log_rank_privacy, "top1": r.top1, "K": r.K, "probes": r.n_probe,
          "random_log_rank": r.random_log_rank}


def _photo_files(cfg, model: EvalModel) -> bool:
  """Whether the evaluated images are real photo files (a face recogniser means something on them)."""
  return cfg.data_dir is not None or not model.data.synthetic


def io_progress(enabled, total, title):
  if not enabled:
    return None
  from dpfe_tf import io_utils
  return io_utils.progress(total, title)


def compare(curves, n_boot=1000, seed=0, groups=None, against=None, operating_noise=None):
  """Superiority verdicts of each later model against each earlier one (or every model against
  ``against``), with paired-bootstrap intervals of the gap under the worst-case attacker, and
  per-point intervals of every curve. ``groups``: seed labels of the pooled probes and samples.
  ``operating_noise``: also each model of a pair at that noise level against the other at noise 0."""
  g = groups or {}
  if against is None:
    pairs = [(b, a) for a, b in itertools.combinations(curves, 2)]
  else:
    ref = next(c for c in curves if c.name == against)
    pairs = [(c, ref) for c in curves if c is not ref]
  verdicts = []
  for a, b in pairs:
    gap = intervals.gap_intervals(a, b, n_boot, seed, probe_groups=g.get("probe"), sample_groups=g.get("sample"))
    v = tradeoff.superiority(a, b, "log_rank_privacy")
    v["interval"] = gap
    if operating_noise is not None:
      v["operating_point"] = {
          f"{x.name} at {operating_noise:g} vs {y.name} at 0": {
              "noise": operating_noise, **intervals.point_gap(
                  next(p for p in x.points if p.r == operating_noise), y.points[0], n_boot, seed,
                  probe_groups=g.get("probe"), sample_groups=g.get("sample"))}
          for x, y in ((a, b), (b, a))}
    if v["mean_gap"] is not None and gap.get("mean_curve_gap_ci"):
      lo, hi = gap["mean_curve_gap_ci"]
      v["verdict"] += (f"; the mean gap's {int(100 * gap['level'])}% interval [{lo:+.3f}, {hi:+.3f}] "
                       + ("excludes zero" if gap["curve_gap_excludes_zero"] else "includes zero"))
    verdicts.append(v)
    verdicts.append(tradeoff.superiority(a, b, "one_nn_error"))
  point_ci = {c.name: [intervals.point_intervals(p, n_boot, seed, probe_groups=g.get("probe"),
                                                 sample_groups=g.get("sample")) if p.privacy else None
                       for p in c.points] for c in curves}
  return verdicts, point_ci
