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
from dpfe_tf.privacy import measures, tradeoff


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
  """One trade-off curve per model, all on the same images; and the pairwise superiority."""
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
  # Each later model against each earlier one (e.g. dpfe vs simple).
  verdicts = [tradeoff.superiority(a, b, measure)
              for b, a in itertools.combinations(curves, 2)
              for measure in ("log_rank_privacy", "one_nn_error")]
  return curves, verdicts


def write_report(curves, verdicts, output_dir, meta: dict):
  os.makedirs(output_dir, exist_ok=True)
  io_utils.write_json(os.path.join(output_dir, "evaluation.json"),
                      {**meta, "curves": [c.as_dict() for c in curves], "superiority": verdicts})
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


def run_evaluation(model_dirs, data_dir=None, split="test", output_dir=None, noise_grid=None,
                   estimator_names=("kde", "classifier"), min_images=18, probe_fraction=0.1,
                   rotate=False, seed=0, limit=None, cache_dir=None):
  """Loads, evaluates, writes the report and returns (curves, verdicts, paths)."""
  stage_dirs = [d for m in model_dirs for d in find_stages(m)]
  models = [load_stage(d, n) for d, n in zip(stage_dirs, model_names(stage_dirs))]
  sizes = {m.image_size for m in models}
  if len(sizes) > 1:
    raise ValueError(f"the models take different image sizes {sorted(sizes)}; evaluate them separately")
  data_dir = resolve_data_dir(models, data_dir)
  data = celeba.load(data_dir, split, sizes.pop(), cache_dir=cache_dir, limit=limit)
  grid = tuple(noise_grid) if noise_grid else noise.DEFAULT_NOISE_GRID
  curves, verdicts = evaluate(models, data, grid, tuple(estimator_names), min_images,
                                         probe_fraction, seed, rotate)
  output_dir = output_dir or os.path.join(model_dirs[0], "evaluation")
  paths = write_report(curves, verdicts, output_dir, {
      "data_dir": os.path.abspath(data_dir), "split": split, "images": len(data),
      "identities": data.num_identities, "models": {m.name: m.stage_dir for m in models},
      "noise_grid": list(grid), "seed": seed})
  return curves, verdicts, paths, output_dir


def print_report(curves, verdicts, paths, output_dir):
  print(format_table(curves))
  for v in verdicts:
    gap = "" if v["mean_gap"] is None else (
        f" (mean gap {v['a']} - {v['b']}: {v['mean_gap']:+.3f}, min {v['min_gap']:+.3f}, max "
        f"{v['max_gap']:+.3f}, over accuracy {v['accuracy_range'][0]:.3f}-{v['accuracy_range'][1]:.3f})")
    print(f"{v['measure']}: {v['verdict']}{gap}")
  print(f"report: {output_dir}/evaluation.json, evaluation.csv, " + ", ".join(os.path.basename(p) for p in paths.values()))
