"""Exports a trained model's extractor (and the trunks, and full MOON) as TFLite, with model cards.

    python -m dpfe_tf.export --model_dir=runs/dpfe --output_dir=runs/dpfe/tflite
    python -m dpfe_tf.export --model_dir=runs/dpfe/simple --qat

For the extractor (image -> private feature) of the chosen stage: float32, dynamic-range,
float16 and full-int8 TFLite files (int8 calibrated on training images), optionally a
quantisation-aware-trained int8 file (--qat, in its own process); each with a JSON model
card holding its input spec, quantisation, SHA-256 and parity figures against Keras
(feature difference, change of accuracy and of log-rank privacy on the test partition).
With --trunks, also the bare MOON trunk cut at conv4_2, conv5_1, conv6_1, conv7 and the full
MOON in the same forms, for the paper's complexity comparison (bench/tflite_host.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from absl import app, flags

from dpfe_tf import flags_common

flags_common.quiet_tensorflow()

F = flags.FLAGS
flags.DEFINE_string("model_dir", "runs/dpfe", "A stage dir (extractor.keras) or a training run dir.")
flags.DEFINE_enum("stage", "dpfe", ["simple", "dpfe"], "Stage to export when --model_dir is a run dir.")
flags.DEFINE_string("output_dir", None, "Where the .tflite files go (default: <stage dir>/tflite).")
flags.DEFINE_string("data_dir", None, "Data for calibration and parity (default: the training data).")
flags.DEFINE_list("forms", ["float32", "dynamic", "float16", "int8"], "Forms to export.")
flags.DEFINE_bool("qat", False, "Also quantisation-aware training of the extractor -> int8 (own process).")
flags.DEFINE_integer("qat_steps", 200, "QAT fine-tuning steps (distillation to the float features).")
flags.DEFINE_bool("trunks", True, "Also export the trunks at the paper's layers and the full MOON.")
flags.DEFINE_integer("representative", 128, "Training images used to calibrate int8.")
flags.DEFINE_integer("parity_images", 512, "Test images used for the parity figures.")
flags.DEFINE_integer("min_images", 18, "Parity privacy: the attacker keeps identities with more images.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")


def stage_dir_of(model_dir, stage):
  if os.path.isfile(os.path.join(model_dir, "extractor.keras")):
    return model_dir
  d = os.path.join(model_dir, stage)
  if not os.path.isfile(os.path.join(d, "extractor.keras")):
    raise FileNotFoundError(f"{model_dir}: no extractor.keras here or in {stage}/ (train first)")
  return d


def export(stage_dir, output_dir, data_dir=None, forms=("float32", "dynamic", "float16", "int8"),
           qat=False, qat_steps=200, trunks=True, n_rep=128, n_parity=512, min_images=18, seed=0,
           cache_dir=None) -> dict:
  """Writes the TFLite files and cards; returns the export summary (also in export.json)."""
  import numpy as np

  from dpfe_tf import evaluation, io_utils, training
  from dpfe_tf.data import attributes as attrs
  from dpfe_tf.data import celeba
  from dpfe_tf.mobile import card, convert, parity, runtime
  from dpfe_tf.models import moon

  ref = evaluation.load_stage(stage_dir)
  cfg = io_utils.read_json(os.path.join(stage_dir, "config.json"))["config"]
  layer = cfg["layer"]
  data_dir = evaluation.resolve_data_dir([ref], data_dir)
  train = celeba.load(data_dir, "train", ref.image_size, cache_dir=cache_dir)
  test = celeba.load(data_dir, "test", ref.image_size, cache_dir=cache_dir)
  rng = np.random.default_rng(seed)
  rep = np.asarray(train.images[np.sort(rng.choice(len(train), min(n_rep, len(train)), replace=False))],
                   np.float32)
  pick = np.sort(rng.choice(len(test), min(n_parity, len(test)), replace=False))
  test = test.subset(pick)
  x_test = np.asarray(test.images, np.float32)
  labels = test.attributes[:, attrs.attribute_indices(ref.attribute_names)]
  keras_f = ref.extractor.predict(x_test, batch_size=128, verbose=0)
  predict = evaluation.predict_fn(ref)
  os.makedirs(output_dir, exist_ok=True)
  source = {"stage_dir": os.path.abspath(stage_dir), "data_dir": os.path.abspath(data_dir)}
  summary = {"layer": layer, "attributes": list(ref.attribute_names), "image_size": list(ref.image_size),
             "extractor": {}, "trunks": {}, "full": {}}

  def write(model_bytes, path):
    with io_utils.atomic_path(path, ".tflite") as tmp:
      with open(tmp, "wb") as f:
        f.write(model_bytes)
    return path

  ext1 = convert.batch1_extractor(ref.extractor, layer)
  bar = io_utils.progress(len(forms) + int(qat), f"exporting the {layer} extractor to {output_dir}")
  paths = {}
  for form in forms:
    paths[form] = write(convert.convert(ext1, form, rep), os.path.join(
        output_dir, f"extractor_{layer}_{form}.tflite"))
    bar.add(1)
  if qat:
    paths["qat_int8"] = run_qat(ref.extractor, layer, rep, np.asarray(train.images[:2048], np.float32),
                                os.path.join(output_dir, f"extractor_{layer}_qat_int8.tflite"), qat_steps, seed)
    bar.add(1)
  for form, path in paths.items():
    tfl = runtime.TFLiteModel(path)
    par = parity.parity(tfl.run(x_test), keras_f, predict, labels, ref.attribute_names,
                        test.identities, min_images, seed)
    c = card.make_card(path, "extractor", form, layer, ref.image_size, ref.attribute_names,
                       ref.extractor.output_shape[-1], par, source)
    card.write_card(path, c)
    summary["extractor"][form] = {"file": os.path.basename(path), "bytes": c["bytes"], **par}
  if "float32" in summary["extractor"]:
    base = summary["extractor"]["float32"]["bytes"]
    for form, s in summary["extractor"].items():
      s["size_vs_float32"] = s["bytes"] / base
  if trunks:
    original_path = cfg.get("original_model") or os.path.join(cfg["output_dir"], "original", "model.keras")
    if not os.path.isfile(original_path):
      print(f"warning: no original model at {original_path}: trunks and full MOON not exported", file=sys.stderr)
    else:
      original = training.load_model(original_path)
      todo = [(l, convert.batch1_trunk(original, l)) for l in moon.PAPER_CUT_LAYERS] + \
          [("full", convert.batch1_full(original))]
      tbar = io_utils.progress(len(todo) * len(forms), "exporting the trunks and the full MOON")
      for lyr, m in todo:
        for form in forms:
          name = f"moon_full_{form}.tflite" if lyr == "full" else f"trunk_{lyr}_{form}.tflite"
          path = write(convert.convert(m, form, rep), os.path.join(output_dir, name))
          kind = "full" if lyr == "full" else "trunk"
          c = card.make_card(path, kind, form, None if lyr == "full" else lyr, ref.image_size,
                             attrs.CELEBA_ATTRIBUTES if lyr == "full" else None, source=source)
          card.write_card(path, c)
          (summary["full"] if lyr == "full" else summary["trunks"].setdefault(lyr, {}))[form] = {
              "file": name, "bytes": c["bytes"]}
          tbar.add(1)
  io_utils.write_json(os.path.join(output_dir, "export.json"), summary)
  return summary


def run_qat(extractor, layer, representative, train_images, out_path, steps, seed):
  """Quantisation-aware training in a separate process (tensorflow-model-optimization needs tf_keras)."""
  import numpy as np
  with tempfile.TemporaryDirectory() as tmp:
    weights = {f"{l.name}/{i}": w for l in extractor.layers for i, w in enumerate(l.get_weights())}
    np.savez(os.path.join(tmp, "weights.npz"), **weights)
    np.save(os.path.join(tmp, "images.npy"), train_images)
    np.save(os.path.join(tmp, "targets.npy"), extractor.predict(train_images, batch_size=128, verbose=0))
    np.save(os.path.join(tmp, "representative.npy"), representative)
    size = extractor.input_shape[1:3]
    cmd = [sys.executable, "-m", "dpfe_tf.qat", f"--work_dir={tmp}", f"--layer={layer}",
           f"--image_size={size[0]}x{size[1]}", f"--feature_dim={extractor.output_shape[-1]}",
           f"--steps={steps}", f"--seed={seed}", f"--output={out_path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
      raise RuntimeError(f"QAT failed:\n{proc.stderr[-2000:]}")
  return out_path


def format_summary(s) -> str:
  lines = [f"extractor {s['layer']} ({','.join(s['attributes'])}, {s['image_size'][0]}x{s['image_size'][1]}):",
           f"{'form':<10} {'bytes':>10} {'x float32':>10} {'max|dF|':>9} {'d accuracy':>11} {'d LRP':>7}"]
  for form, e in s["extractor"].items():
    dl = "-" if e["log_rank_privacy_change"] is None else f"{e['log_rank_privacy_change']:+.3f}"
    lines.append(f"{form:<10} {e['bytes']:>10d} {e.get('size_vs_float32', float('nan')):>10.2f} "
                 f"{e['max_abs_feature_diff']:>9.4f} {100 * e['accuracy_change']:>+10.2f}p {dl:>7}")
  return "\n".join(lines)


def export_cli():
  sd = stage_dir_of(F.model_dir, F.stage)
  out = F.output_dir or os.path.join(sd, "tflite")
  s = export(sd, out, F.data_dir, F.forms, F.qat, F.qat_steps, F.trunks, F.representative,
             F.parity_images, F.min_images, F.seed, F.cache_dir)
  print(format_summary(s))
  print(f"files and model cards in {out}/")
  return 0


main = flags_common.cli_main(export_cli)


if __name__ == "__main__":
  app.run(main)
