"""Procedure 2 on trained models: features -> noise -> accuracy and privacy -> report files.

Computation only; ``evaluate.py`` is the CLI, ``plots.py`` draws.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os

import numpy as np

from dpfe_tf import io_utils, noise, plots, training
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import celeba, pipeline, synthetic
from dpfe_tf.privacy import intervals, measures, tradeoff


@dataclasses.dataclass
class ModelRef:
  """A trained Simple/DPFE stage: its two halves and what it was trained for."""
  name: str
  stage_dir: str
  extractor: object
  predictor: object
  attribute_names: tuple
  data_dir: str | None
  image_size: tuple


def find_stages(model_dir) -> list[str]:
  """A stage dir (extractor.keras + predictor.keras), or a training run's simple/ and dpfe/."""
  if os.path.isfile(os.path.join(model_dir, "extractor.keras")):
    return [model_dir]
  found = [os.path.join(model_dir, s) for s in ("simple", "dpfe")
           if os.path.isfile(os.path.join(model_dir, s, "extractor.keras"))]
  if not found:
    raise FileNotFoundError(f"{model_dir}: no extractor.keras, and no simple/ or dpfe/ stage with one "
                            "(train first: python -m dpfe_tf.train)")
  return found


def load_stage(stage_dir, name=None) -> ModelRef:
  cfg_path = os.path.join(stage_dir, "config.json")
  cfg = io_utils.read_json(cfg_path).get("config", {}) if os.path.isfile(cfg_path) else {}
  extractor = training.load_model(os.path.join(stage_dir, "extractor.keras"))
  predictor = training.load_model(os.path.join(stage_dir, "predictor.keras"))
  names = tuple(cfg.get("attribute_names") or ())
  if not names:
    raise ValueError(f"{stage_dir}: config.json does not say which attributes the predictor outputs")
  if predictor.output_shape[-1] != len(names):
    raise ValueError(f"{stage_dir}: the predictor has {predictor.output_shape[-1]} outputs, "
                     f"config.json lists {len(names)} attributes")
  return ModelRef(name or os.path.basename(os.path.normpath(stage_dir)), stage_dir, extractor,
                  predictor, names, cfg.get("data_dir"), tuple(extractor.input_shape[1:3]))


def model_names(stage_dirs) -> list[str]:
  """Short unique names: the stage name, prefixed by its run dir when stages repeat."""
  short = [os.path.basename(os.path.normpath(d)) for d in stage_dirs]
  if len(set(short)) == len(short):
    return short
  return [f"{os.path.basename(os.path.dirname(os.path.normpath(d)))}/{s}" for d, s in zip(stage_dirs, short)]


def features_of(model: ModelRef, data: celeba.FaceData) -> np.ndarray:
  return model.extractor.predict(pipeline.image_batches(data.images, 256), verbose=0)


def predict_fn(model: ModelRef):
  return lambda f: model.predictor.predict(f, batch_size=1024, verbose=0)


def evaluate(models: list[ModelRef], data: celeba.FaceData, noise_grid=noise.DEFAULT_NOISE_GRID,
             estimator_names=("kde", "classifier"), min_images=measures.DEFAULT_MIN_IMAGES,
             probe_fraction=measures.DEFAULT_PROBE_FRACTION, seed=0, rotate=False):
  """One trade-off curve per model, all on the same images."""
  bar = io_utils.progress(len(models) * len(noise_grid),
                          f"evaluating {len(models)} model(s) x {len(noise_grid)} noise levels")
  curves = []
  for m in models:
    if m.image_size != data.image_size:
      raise ValueError(f"{m.name} takes {m.image_size[0]}x{m.image_size[1]} images, the data are "
                       f"{data.image_size[0]}x{data.image_size[1]}")
    labels = data.attributes[:, attrs.attribute_indices(m.attribute_names)]
    curves.append(tradeoff.tradeoff_curve(
        m.name, features_of(m, data), data.identities, labels, m.attribute_names, predict_fn(m),
        noise_grid, estimator_names, min_images, probe_fraction, seed, rotate, progress=bar.add))
  return curves


def compare(curves, n_boot=1000, seed=0, groups=None):
  """Superiority verdicts of each later model against each earlier one (e.g. dpfe vs simple),
  with paired-bootstrap intervals of the gap; and per-point intervals of every curve.

  ``groups``: {"probe": seed label per probe, "sample": per sample} when seeds are pooled.
  """
  g = groups or {}
  verdicts = []
  for b, a in itertools.combinations(curves, 2):
    gap = intervals.gap_intervals(a, b, n_boot, seed, g.get("probe"), g.get("sample"))
    for measure in ("log_rank_privacy", "one_nn_error"):
      v = tradeoff.superiority(a, b, measure)
      if measure == "log_rank_privacy":
        v["interval"] = gap
        if v["mean_gap"] is not None and gap.get("mean_curve_gap_ci"):
          lo, hi = gap["mean_curve_gap_ci"]
          v["verdict"] += (f"; the mean gap's {int(100 * gap['level'])}% interval [{lo:+.3f}, {hi:+.3f}] "
                           + ("excludes zero" if gap["curve_gap_excludes_zero"] else "includes zero"))
      verdicts.append(v)
  point_ci = {c.name: [intervals.point_intervals(p, n_boot, seed, g.get("probe"), g.get("sample"))
                       for p in c.points] for c in curves}
  return verdicts, point_ci


def write_report(curves, verdicts, output_dir, meta: dict, point_ci=None):
  os.makedirs(output_dir, exist_ok=True)
  dicts = [c.as_dict() for c in curves]
  for d in dicts:
    for p, ci in zip(d["points"], (point_ci or {}).get(d["name"], [])):
      p["interval_95"] = ci
  io_utils.write_json(os.path.join(output_dir, "evaluation.json"),
                      {**meta, "curves": dicts, "superiority": verdicts})
  rows = []
  for c in curves:
    for p in c.points:
      for est, res in p.privacy.items():
        rows.append({"model": c.name, "r": p.r, "accuracy": p.accuracy, "estimator": est,
                     **{k: v for k, v in res.as_dict().items() if k not in ("estimator", "notes")}})
  with io_utils.atomic_path(os.path.join(output_dir, "evaluation.csv"), ".csv") as tmp:
    with open(tmp, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(rows[0]))
      w.writeheader()
      w.writerows(rows)
  paths = {"log_rank": os.path.join(output_dir, "accuracy_vs_log_rank_privacy.png"),
           "one_nn": os.path.join(output_dir, "accuracy_vs_1nn_privacy.png"),
           "rank": os.path.join(output_dir, "rank_mean_std.png"),
           "guarantee": os.path.join(output_dir, "rank_guarantee.png")}
  plots.accuracy_vs_privacy(curves, "log_rank_privacy", paths["log_rank"])
  plots.accuracy_vs_privacy(curves, "one_nn_error", paths["one_nn"])
  plots.rank_mean_std(curves, paths["rank"])
  plots.rank_guarantee(curves, paths["guarantee"])
  return paths


def format_intervals(curves, point_ci) -> str:
  lines = ["noise 0 with bootstrap 95% intervals (worst estimator):"]
  for c in curves:
    ci = point_ci[c.name][0]
    p = c.points[0]
    lrp = p.value("log_rank_privacy")
    lines.append(f"  {c.name:<12} accuracy {p.accuracy:.3f} [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]"
                 f"  log-rank privacy {lrp:.3f} [{ci['log_rank_privacy'][0]:.3f}, {ci['log_rank_privacy'][1]:.3f}]"
                 f" ({ci['estimator']})")
  return "\n".join(lines)


def format_table(curves) -> str:
  ests = list(curves[0].points[0].privacy)
  head = f"{'model':<14} {'r':>5} {'accuracy':>9} " + " ".join(f"{'LRP ' + e:>14}" for e in ests) + \
      f" {'1-NN err':>9} {'rank mean':>10} {'K':>4} {'probes':>7}"
  lines = [head]
  for c in curves:
    for p in c.points:
      kde = p.privacy[ests[0]]
      lines.append(f"{c.name:<14} {p.r:>5g} {p.accuracy:>9.3f} "
                   + " ".join(f"{p.privacy[e].log_rank_privacy:>14.3f}" for e in ests)
                   + f" {kde.one_nn_error:>9.3f} {kde.rank_mean:>10.3f} {kde.K:>4d} {kde.n_probe:>7d}")
  lines.append("rank guarantee at noise 0, P(rank/K > t), " + ests[0] + ": " + "; ".join(
      f"{c.name} " + ", ".join(f"t={t}: {p:.2f}" for t, p in c.points[0].privacy[ests[0]].guarantee.items())
      for c in curves))
  ref = curves[0].points[0].privacy[ests[0]]
  lines.append(f"random guess: LRP {ref.random_log_rank:.3f}, 1-NN error {1 - 1 / ref.K:.3f}, "
               f"rank mean {ref.random_rank_mean:.3f} +- {ref.random_rank_std:.3f} (K = {ref.K})")
  return "\n".join(lines)


def resolve_data_dir(models: list[ModelRef], data_dir: str | None) -> str:
  if data_dir:
    return data_dir
  dirs = {m.data_dir for m in models}
  if len(dirs) > 1:
    raise ValueError(f"the models were trained on different data ({', '.join(map(str, dirs))}); pass --data_dir")
  d = dirs.pop()
  return d if d else synthetic.ensure_default()


def seed_run_dirs(run_dir, seeds) -> list[str]:
  """``run_dir`` and ``run_dir/seeds/seed_k`` (k = 1..seeds-1), training the missing ones.

  Seed k retrains Simple and DPFE from the same original MOON with the same configuration,
  seed k, and (if the run searched for them) the beta and margin that seed 0 chose.
  """
  dirs = [run_dir]
  if seeds <= 1:
    return dirs
  path = os.path.join(run_dir, "dpfe", "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--seeds needs a training run dir with a dpfe stage; {path} is missing")
  saved = io_utils.read_json(path)["config"]
  chosen = io_utils.read_json(os.path.join(run_dir, "dpfe", "metrics.json"))["y_remover"]
  fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
  base = {k: v for k, v in saved.items() if k in fields}
  original = base.get("original_model") or os.path.join(run_dir, "original", "model.keras")
  for k in range(1, seeds):
    out = os.path.join(run_dir, "seeds", f"seed_{k}")
    cfg = training.TrainConfig(**{**base, "seed": base["seed"] + k, "output_dir": out,
                                  "original_model": original, "beta": chosen["beta"],
                                  "margin": chosen["margin"], "image_size": tuple(base["image_size"]),
                                  "overwrite": False})
    print(f"== seed {cfg.seed}: Simple and DPFE in {out}", flush=True)
    training.run(cfg, ("simple", "dpfe"))
    dirs.append(out)
  return dirs


def run_evaluation(model_dirs, data_dir=None, split="test", output_dir=None, noise_grid=None,
                   estimator_names=("kde", "classifier"), min_images=18, probe_fraction=0.1,
                   rotate=False, seed=0, limit=None, cache_dir=None, seeds=1, n_boot=1000):
  """Loads (training extra seeds if asked), evaluates, writes the report; returns what print_report takes."""
  grid = tuple(noise_grid) if noise_grid else noise.DEFAULT_NOISE_GRID
  runs = [seed_run_dirs(m, seeds) for m in model_dirs]  # runs[i][k]: model dir i, seed k
  per_seed = []
  data = None
  for k in range(seeds):
    stage_dirs = [d for r in runs for d in find_stages(r[k])]
    models = [load_stage(d, n) for d, n in zip(stage_dirs, model_names([d for r in runs for d in find_stages(r[0])]))]
    sizes = {m.image_size for m in models}
    if len(sizes) > 1:
      raise ValueError(f"the models take different image sizes {sorted(sizes)}; evaluate them separately")
    if data is None:
      data_dir = resolve_data_dir(models, data_dir)
      data = celeba.load(data_dir, split, sizes.pop(), cache_dir=cache_dir, limit=limit)
    per_seed.append(evaluate(models, data, grid, tuple(estimator_names), min_images, probe_fraction,
                             seed + k, rotate or seeds > 1))
  curves = [tradeoff.pool([s[i] for s in per_seed]) if seeds > 1 else per_seed[0][i]
            for i in range(len(per_seed[0]))]
  groups = None
  if seeds > 1:  # bootstrap strata: which seed each pooled probe and sample came from
    e0 = estimator_names[0]
    groups = {"probe": np.concatenate([np.full(len(s[0].points[0].privacy[e0].ranks), k)
                                       for k, s in enumerate(per_seed)]),
              "sample": np.concatenate([np.full(len(s[0].points[0].correct), k) for k, s in enumerate(per_seed)])}
  verdicts, point_ci = compare(curves, n_boot, seed, groups)
  output_dir = output_dir or os.path.join(model_dirs[0], "evaluation")
  paths = write_report(curves, verdicts, output_dir, {
      "data_dir": os.path.abspath(data_dir), "split": split, "images": len(data),
      "identities": data.num_identities, "runs": runs,
      "noise_grid": list(grid), "seed": seed, "seeds": seeds, "rotated": bool(rotate or seeds > 1),
      "bootstrap": n_boot}, point_ci)
  return curves, verdicts, paths, output_dir, point_ci


def print_report(curves, verdicts, paths, output_dir, point_ci=None):
  print(format_table(curves))
  if point_ci:
    print(format_intervals(curves, point_ci))
  for v in verdicts:
    gap = "" if v["mean_gap"] is None else (
        f" (mean gap {v['a']} - {v['b']}: {v['mean_gap']:+.3f}, min {v['min_gap']:+.3f}, max "
        f"{v['max_gap']:+.3f}, over accuracy {v['accuracy_range'][0]:.3f}-{v['accuracy_range'][1]:.3f})")
    print(f"{v['measure']}: {v['verdict']}{gap}")
  print(f"report: {output_dir}/evaluation.json, evaluation.csv, " + ", ".join(os.path.basename(p) for p in paths.values()))
