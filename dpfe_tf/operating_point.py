"""Choose a defended model's operating noise r without the evaluated people.

    python -m dpfe_tf.operating_point --model_dir=runs/celeba-subset/conv7-G/dpfe
    python -m dpfe_tf.operating_point --model_dir=runs/celeba-subset/conv7-G/dpfe --folds=3

The largest r of --noise at which the model's accuracy under that noise (--noise_shape) stays within
--tolerance of Simple's at noise 0: on the validation people with the trained models, or with
--folds=k on k folds of the training people (each fold's original MOON, Simple and defended model
trained on the other folds, the run's recipe; about 10 minutes a fold on the CelebA subset, 2 CPU
cores). Prints the table, writes operating_point.json and operating_point.png to
<variant>/operating_point-<defence> (or --output_dir); pass the r to
``python -m dpfe_tf.evaluate --operating_noise=r``.
"""

from __future__ import annotations

import os

from absl import flags as absl_flags

from dpfe_tf import config as C
from dpfe_tf import flags as dflags
from dpfe_tf.privacy import noise

O = C.OperatingPointConfig
absl_flags.DEFINE_string("model_dir", None, "The defended model's stage folder (<run>/<layer>-<set>/<defence>; "
                         "default: runs/demo/conv7-G/dpfe, what python -m dpfe_tf.train writes).")
absl_flags.DEFINE_integer("folds", O.folds, "0: score on the validation people; k >= 2: on k folds of the training "
                          "people, each fold's models trained on the other folds.")
absl_flags.DEFINE_list("noise", [f"{r:g}" for r in C.OPERATING_NOISE_GRID], "Noise scales r to choose from.")
absl_flags.DEFINE_enum("noise_shape", O.noise_shape, list(noise.NOISE_SHAPES), "The test-time noise's shape "
                       "(as evaluate's --noise_shape).")
absl_flags.DEFINE_float("tolerance", O.tolerance, "Accuracy the noise may cost below Simple's at noise 0 (a fraction).")
absl_flags.DEFINE_integer("draws", O.draws, "Noise draws per image, averaged.")
dflags.output_dir("Where operating_point.json/.png go (default: <variant>/operating_point-<defence>).")
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  from dpfe_tf import run_dir
  cfg = C.OperatingPointConfig(model_dir=F.model_dir or run_dir.default_defended_stage(), folds=F.folds, noise_grid=dflags.floats(F.noise, "noise"),
                               noise_shape=F.noise_shape, tolerance=F.tolerance, draws=F.draws,
                               output_dir=F.output_dir)
  run_dir.defended_stage(cfg.model_dir)   # a folder without a defended model is named before TensorFlow starts
  return cfg


def choose(cfg):
  from dpfe_tf import io_utils, plots, run_dir, tables
  from dpfe_tf.training import operating_point
  point = operating_point.run(cfg).as_dict()
  stage = run_dir.defended_stage(cfg.model_dir)
  out = cfg.output_dir or os.path.join(run_dir.variant_of(stage).path, f"operating_point-{stage.name}")
  os.makedirs(out, exist_ok=True)
  io_utils.write_json(os.path.join(out, "operating_point.json"), point)
  plots.operating_point(point, os.path.join(out, "operating_point.png"))
  print(tables.operating_point_table(point))
  print(f"  written to {out}/operating_point.json (.png); took {point['seconds'] / 60:.1f} min")
  return 0


main = dflags.cli_main(configure, choose)


if __name__ == "__main__":
  dflags.run(main)
