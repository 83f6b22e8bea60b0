"""Exports a trained extractor to TFLite in several forms, with model cards and parity figures.

    python -m dpfe_tf.export                                          # the demo's dpfe stage -> runs/demo/conv7-G/dpfe/tflite/
    python -m dpfe_tf.export --model_dir=runs/celeba-subset/conv7-G   # its dpfe stage -> dpfe/tflite/
    python -m dpfe_tf.export --model_dir=runs/demo/conv7-G/simple --qat

float32, dynamic-range, float16 and full-int8 files (+ a quantisation-aware-trained int8 with
--qat, in its own process), each with a JSON card (input spec, quantisation, SHA-256, the
extractor's pairing id, parity against Keras); with --trunks, the bare MOON trunks at the paper's
layers and the full MOON too (for bench/tflite_host.py and the Figure 11 table).
"""

from __future__ import annotations

from absl import flags as absl_flags

from dpfe_tf import config as C
from dpfe_tf import flags as dflags

E = C.ExportConfig
dflags.seed()
dflags.min_images()
dflags.output_dir("Where the .tflite files go (default: <stage>/tflite).")
absl_flags.DEFINE_string("model_dir", None, "A stage folder (extractor.keras), or a variant folder with --stage "
                         "(default: runs/demo/conv7-G, what python -m dpfe_tf.train writes).")
absl_flags.DEFINE_string("stage", E.stage, "Stage to export when --model_dir is a variant folder.")
absl_flags.DEFINE_string("data_dir", None, "Data for calibration and parity (default: the training data).")
absl_flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")
absl_flags.DEFINE_list("forms", list(E.forms), "Forms to export: float32, dynamic, float16, int8.")
absl_flags.DEFINE_bool("qat", E.qat, "Also quantisation-aware training of the extractor -> int8 (own process).")
absl_flags.DEFINE_integer("qat_steps", E.qat_steps, "QAT fine-tuning steps (distillation to the float features).")
absl_flags.DEFINE_bool("trunks", E.trunks, "Also export the trunks at the paper's layers and the full MOON.")
absl_flags.DEFINE_integer("representative", E.representative, "Training images used to calibrate int8.")
absl_flags.DEFINE_integer("parity_images", E.parity_images, "Test images used for the parity figures.")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  from dpfe_tf import run_dir
  cfg = C.ExportConfig(model_dir=F.model_dir or run_dir.default_variant(), stage=F.stage, output_dir=F.output_dir,
                       data_dir=F.data_dir, forms=tuple(F.forms), qat=F.qat, qat_steps=F.qat_steps, trunks=F.trunks,
                       representative=F.representative, parity_images=F.parity_images, min_images=F.min_images,
                       seed=F.seed, cache_dir=F.cache_dir)
  run_dir.stage_at(cfg.model_dir, cfg.stage)   # a folder without the stage is named before TensorFlow starts
  return cfg


def export_cli(cfg):
  from dpfe_tf.mobile import export
  summary = export.export(cfg)
  print(export.format_summary(summary))
  print(f"files and model cards in {summary['output_dir']}/")
  return 0


main = dflags.cli_main(configure, export_cli)


if __name__ == "__main__":
  dflags.run(main)
