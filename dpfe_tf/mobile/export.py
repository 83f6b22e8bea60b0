"""Exports a trained stage's extractor (and the MOON trunks, and the full MOON) as TFLite, with model cards.

For the extractor (image -> private feature): float32, dynamic-range, float16 and full-int8
TFLite files (int8 calibrated on training images), optionally a quantisation-aware-trained int8
file (``qat``, in its own process); each with a JSON model card holding its input spec,
quantisation, SHA-256, the extractor's pairing id (a predictor names the extractor it belongs
to) and parity figures against Keras (feature difference, change of accuracy and of log-rank
privacy on the test partition, or why a figure is missing). A file and its card appear together:
both are written to temporary names and renamed into place only when both are complete.
With ``trunks``, also the bare MOON trunk cut at conv4_2, conv5_1, conv6_1, conv7 and the full
MOON in the same forms, for the paper's complexity comparison (bench/tflite_host.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile

import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import io_utils, run_dir
from dpfe_tf.data import attributes as attrs
from dpfe_tf.mobile import card, convert, parity, runtime
from dpfe_tf.models import moon, separation


@dataclasses.dataclass
class _Inputs:
  """What the export needs from the trained stage and its data."""
  stage: run_dir.Stage
  split: separation.SplitModel
  train_cfg: config_lib.TrainConfig
  representative: np.ndarray
  train_images: np.ndarray
  test: object
  labels: np.ndarray



def extractor_file(folder: str, layer: str, form: str) -> str:
  """Where ``export`` writes an extractor of ``form`` (float32, int8, ...) cut at ``layer``."""
  return os.path.join(folder, f"extractor_{layer}_{form}.tflite")

def _inputs(cfg: config_lib.ExportConfig) -> _Inputs:
  stage = run_dir.stage_at(cfg.model_dir, cfg.stage)
  split = stage.halves()
  tcfg = stage.train_config()
  data = tcfg.data if cfg.data_dir is None else dataclasses.replace(tcfg.data, data_dir=cfg.data_dir)
  data = dataclasses.replace(data, cache_dir=cfg.cache_dir or data.cache_dir, limit=None)
  train, test = data.load("train"), data.load("test")
  rng = np.random.default_rng(cfg.seed)
  rep = np.asarray(train.images[np.sort(rng.choice(len(train), min(cfg.representative, len(train)), replace=False))],
                   np.float32)
  test = test.subset(np.sort(rng.choice(len(test), min(cfg.parity_images, len(test)), replace=False)))
  return _Inputs(stage, split, tcfg, rep, np.asarray(train.images[:2048], np.float32), test,
                 test.attributes[:, attrs.attribute_indices(tcfg.attribute_names)])


def _write_with_card(model_bytes_or_path, path, make_card):
  """The .tflite file and its card, both complete or neither: written to temporary names, the
  model renamed into place just before its card, so a card never describes a missing file."""
  tmp_model = io_utils.temp_file_beside(path, ".tflite")
  try:
    if isinstance(model_bytes_or_path, bytes):
      with open(tmp_model, "wb") as f:
        f.write(model_bytes_or_path)
    else:
      os.replace(model_bytes_or_path, tmp_model)
      os.chmod(tmp_model, io_utils.FILE_MODE)
    c = make_card(tmp_model)
    c["file"] = os.path.basename(path)
    with io_utils.atomic_path(card.card_path(path), ".json") as tmp_card:
      with open(tmp_card, "w") as f:
        f.write(io_utils.json_text(c))
      os.replace(tmp_model, path)
  finally:
    if os.path.exists(tmp_model):
      os.remove(tmp_model)
  return c


def export(cfg: config_lib.ExportConfig) -> dict:
  """Writes the TFLite files and cards; returns the export summary (also in export.json)."""
  inp = _inputs(cfg)
  layer, names = inp.train_cfg.layer, inp.train_cfg.attribute_names
  out = cfg.output_dir or inp.stage.file("tflite")
  os.makedirs(out, exist_ok=True)
  size = tuple(inp.split.extractor.input_shape[1:3])
  extractor_id = separation.pair_id(inp.split.extractor)
  keras_f = inp.split.extractor.predict(np.asarray(inp.test.images, np.float32), batch_size=128, verbose=0)
  predict = lambda f: inp.split.predictor.predict(f, batch_size=1024, verbose=0)  # noqa: E731
  source = {"stage_dir": inp.stage.path, "data_dir": inp.test.data_dir, "extractor_id": extractor_id}
  summary = {"layer": layer, "attributes": list(names), "image_size": list(size), "extractor_id": extractor_id,
             "extractor": {}, "trunks": {}, "full": {}}
  ext1 = convert.batch1_extractor(inp.split.extractor, layer)
  forms = list(cfg.forms) + (["qat_int8"] if cfg.qat else [])
  bar = io_utils.progress(len(forms), f"exporting the {layer} extractor to {out}")
  for form in forms:
    path = extractor_file(out, layer, form)
    content = (run_qat(inp.split.extractor, layer, inp.representative, inp.train_images, cfg.qat_steps, cfg.seed)
               if form == "qat_int8" else convert.convert(ext1, form, inp.representative))

    def make(tmp, form=form):
      par = parity.parity(runtime.TFLiteModel(tmp).run(np.asarray(inp.test.images, np.float32)), keras_f, predict,
                          labels=inp.labels, attribute_names=names, identities=inp.test.identities,
                          min_images=cfg.min_images, seed=cfg.seed)
      return card.make_card(tmp, "extractor", form, layer, size, attributes=names,
                            feature_dim=inp.split.extractor.output_shape[-1], parity=par, source=source,
                            extractor_id=extractor_id)
    c = _write_with_card(content, path, make)
    summary["extractor"][form] = {"file": os.path.basename(path), "bytes": c["bytes"], **c["parity"]}
    bar.add(1)
  if "float32" in summary["extractor"]:
    base = summary["extractor"]["float32"]["bytes"]
    for s in summary["extractor"].values():
      s["size_vs_float32"] = s["bytes"] / base
  if cfg.trunks:
    _export_trunks(cfg, inp, out, size, source, summary)
  io_utils.write_json(os.path.join(out, "export.json"), summary)
  summary["output_dir"] = out
  return summary


def _export_trunks(cfg, inp, out, size, source, summary):
  original_path = run_dir.original_of(inp.stage)
  if not os.path.isfile(original_path):
    print(f"warning: no original MOON at {original_path}: trunks and full MOON not exported", file=sys.stderr)
    return
  original = run_dir.load_model(original_path, "the original MOON")
  todo = [(l, convert.batch1_trunk(original, l)) for l in moon.PAPER_CUT_LAYERS] + [("full", convert.batch1_full(original))]
  bar = io_utils.progress(len(todo) * len(cfg.forms), "exporting the trunks and the full MOON")
  for lyr, m in todo:
    for form in cfg.forms:
      name = f"moon_full_{form}.tflite" if lyr == "full" else f"trunk_{lyr}_{form}.tflite"
      kind = "full" if lyr == "full" else "trunk"
      c = _write_with_card(convert.convert(m, form, inp.representative), os.path.join(out, name),
                           lambda tmp, kind=kind, lyr=lyr, form=form: card.make_card(
                               tmp, kind, form, None if lyr == "full" else lyr, size,
                               attributes=attrs.CELEBA_ATTRIBUTES if lyr == "full" else None, source=source))
      (summary["full"] if lyr == "full" else summary["trunks"].setdefault(lyr, {}))[form] = {"file": name,
                                                                                          "bytes": c["bytes"]}
      bar.add(1)


def run_qat(extractor, layer, representative, train_images, steps, seed) -> str:
  """Quantisation-aware training in a separate process (tensorflow-model-optimization needs tf_keras);
  returns the path of a temporary .tflite file. A failure keeps nothing and saves its log."""
  tmp = tempfile.mkdtemp(prefix="dpfe-qat-")
  weights = {f"{l.name}/{i}": w for l in extractor.layers for i, w in enumerate(l.get_weights())}
  np.savez(os.path.join(tmp, "weights.npz"), **weights)
  np.save(os.path.join(tmp, "images.npy"), train_images)
  np.save(os.path.join(tmp, "targets.npy"), extractor.predict(train_images, batch_size=128, verbose=0))
  np.save(os.path.join(tmp, "representative.npy"), representative)
  size = extractor.input_shape[1:3]
  result = os.path.join(tmp, "qat.tflite")
  cmd = [sys.executable, "-m", "dpfe_tf.mobile.qat", f"--work_dir={tmp}", f"--layer={layer}",
         f"--image_size={size[0]}x{size[1]}", f"--feature_dim={extractor.output_shape[-1]}",
         f"--steps={steps}", f"--seed={seed}", f"--output={result}"]
  proc = subprocess.run(cmd, capture_output=True, text=True)
  if proc.returncode != 0 or not os.path.isfile(result):
    log = os.path.join(tmp, "qat.log")
    with open(log, "w") as f:
      f.write(proc.stdout + proc.stderr)
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"QAT failed ({last}); no QAT file was written; full log in {log}")
  return result


def format_summary(s) -> str:
  lines = [f"extractor {s['layer']} ({','.join(s['attributes'])}, {s['image_size'][0]}x{s['image_size'][1]}, "
           f"id {s['extractor_id']}):",
           f"{'form':<10} {'bytes':>10} {'x float32':>10} {'max|dF|':>9} {'d accuracy':>11} {'d LRP':>7}"]
  for form, e in s["extractor"].items():
    dl = "-" if e["log_rank_privacy_change"] is None else f"{e['log_rank_privacy_change']:+.3f}"
    lines.append(f"{form:<10} {e['bytes']:>10d} {e.get('size_vs_float32', float('nan')):>10.2f} "
                 f"{e['max_abs_feature_diff']:>9.4f} {100 * e['accuracy_change']:>+10.2f}p {dl:>7}")
    if e.get("log_rank_privacy_missing"):
      lines.append(f"{'':<10} (no log-rank privacy change: {e['log_rank_privacy_missing']})")
  return "\n".join(lines)
