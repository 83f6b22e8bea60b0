"""The reconstruction attack: train decoders on what the phone sends, measure what they recover.

    python -m dpfe_tf.invert                                          # the demo run: original, simple, dpfe
    python -m dpfe_tf.invert --model_dir=runs/celeba-subset/conv7-G --source=original,simple,dpfe

For each variant folder (its cut layer) and source (original: the raw cut; simple or a defence:
the private feature) a decoder is trained on the training partition and measured on the test
identities: PSNR, SSIM, and re-identification of the reconstructions against the real photos by a
face recogniser (dlib, with the 'attacks' extra) and by MOON's own embedding, each beside its
real-photo ceiling. Writes inversion.json and reconstructions.png (like the paper's Figure 10).
"""

from __future__ import annotations

import os

from absl import flags as absl_flags

from dpfe_tf import config as C
from dpfe_tf import flags as dflags

I = C.InvertConfig
dflags.seed()
dflags.output_dir("Where the report goes (default: <first model_dir>/inversion).")
absl_flags.DEFINE_multi_string("model_dir", None, "Variant folder(s) (<run>/<layer>-<set>); each contributes its cut "
                               "layer (default: runs/demo/conv7-G, what python -m dpfe_tf.train writes).")
absl_flags.DEFINE_list("source", list(I.sources), "What the attacker inverts: original (the raw cut), simple, or a defence.")
absl_flags.DEFINE_string("data_dir", None, "CelebA-layout folder (default: the variants' training data).")
absl_flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")
absl_flags.DEFINE_integer("limit", None, "At most this many images per partition.")
absl_flags.DEFINE_integer("epochs", I.epochs, "Decoder training epochs.")
absl_flags.DEFINE_integer("batch_size", I.batch_size, "Decoder batch size.")
absl_flags.DEFINE_float("learning_rate", I.learning_rate, "Adam learning rate.")
absl_flags.DEFINE_integer("grid_images", I.grid_images, "Test images shown in the grid.")
absl_flags.DEFINE_string("perceptual_layer", None, "Also match the reconstruction to the photo in the original MOON's "
                         "output at this layer (e.g. conv3_relu): a perceptual loss on a fixed network.")
absl_flags.DEFINE_bool("face_recogniser", I.face_recogniser, "Re-identify with dlib's face recogniser when installed.")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  from dpfe_tf import run_dir
  cfg = C.InvertConfig(model_dirs=tuple(F.model_dir or [run_dir.default_variant()]), sources=tuple(F.source),
                       data_dir=F.data_dir, output_dir=F.output_dir, epochs=F.epochs, batch_size=F.batch_size,
                       learning_rate=F.learning_rate, grid_images=F.grid_images, perceptual_layer=F.perceptual_layer,
                       face_recogniser=F.face_recogniser, seed=F.seed, limit=F.limit, cache_dir=F.cache_dir)
  for path in cfg.model_dirs:   # every variant's Simple and sources, named before TensorFlow starts
    run_dir.variant_stages(path, [run_dir.SIMPLE, *(s for s in cfg.sources if s != "original")])
  return cfg


def invert_cli(cfg):
  from dpfe_tf import io_utils, plots
  from dpfe_tf.privacy import inversion
  report, rows, grid_inputs = inversion.run(cfg)
  out = cfg.output_dir or os.path.join(cfg.model_dirs[0], "inversion")
  with io_utils.RunLock(out):
    io_utils.write_json(os.path.join(out, "inversion.json"), report)
    if cfg.grid_images:
      plots.reconstruction_grid(grid_inputs, rows, os.path.join(out, "reconstructions.png"))
  print(f"report: {out}/inversion.json" + (", reconstructions.png" if cfg.grid_images else ""))
  return 0


main = dflags.cli_main(configure, invert_cli)


if __name__ == "__main__":
  dflags.run(main)
