"""Training throughput of a Simple step vs each defence's step, side by side in one process.

    python bench/train_step_throughput.py --layer=conv7 --image_size=109x89 --batch_size=64

Every model starts from the same weights; the steps are timed in alternating rounds so machine
load affects all alike. Prints images/s of each and its ratio of time per image to Simple's
(the defence's overhead: the y-remover's pair loss, the adversary's head, NoPeek's distance
matrices).
"""

import os
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("layer", "conv7", "Cut layer.")
flags.DEFINE_string("image_size", "109x89", "HxW.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("images_per_identity", 8, "K of the P x K batch.")
flags.DEFINE_integer("identities", 181, "Training identities (the adversary's classes).")
flags.DEFINE_integer("steps", 10, "Timed steps per round.")
flags.DEFINE_integer("rounds", 3, "Alternating rounds.")
F = flags.FLAGS


def main(_):
  import keras
  import numpy as np

  from dpfe_tf import config, defences
  from dpfe_tf.models import separation
  from dpfe_tf.models.training_model import TrainingModel

  size = config.parse_image_size(F.image_size)
  split = separation.build_split(F.layer, size, 10, 1)
  weights = (split.extractor.get_weights(), split.predictor.get_weights())
  models = {}
  for name, spec in defences.DEFENCES.items():
    s = separation.build_split(F.layer, size, 10, 1)
    s.extractor.set_weights(weights[0])
    s.predictor.set_weights(weights[1])
    layer = spec.layer(spec.default_beta, spec.default_margin_rel * config.margin_scale(10) if spec.uses_margin
                       else None, num_identities=F.identities, feature_dim=10)
    models[name] = TrainingModel(s.extractor, s.predictor, layer)
    models[name].compile(optimizer=keras.optimizers.Adam(1e-4))
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 255, (F.batch_size, *size, 3)).astype("float32")
  y = rng.integers(0, 2, (F.batch_size, 1)).astype("float32")
  ids = np.repeat(np.arange(F.batch_size // F.images_per_identity), F.images_per_identity).astype("int32")
  batch = ({"image": x, "identity": ids}, y)
  for m in models.values():  # trace and warm up
    m.train_on_batch(*batch)
    m.train_on_batch(*batch)
  seconds = {k: 0.0 for k in models}
  for _ in range(F.rounds):
    for k, m in models.items():
      t = time.perf_counter()
      for _ in range(F.steps):
        m.train_on_batch(*batch)
      seconds[k] += time.perf_counter() - t
  n = F.rounds * F.steps * F.batch_size
  print(f"layer {F.layer}, {size[0]}x{size[1]}, batch {F.batch_size}, {n} images per model, {os.cpu_count()} CPU cores")
  for k, s in seconds.items():
    print(f"{k:<12} step: {n / s:8.1f} images/s   time per image vs simple: {s / seconds['simple']:.3f}x")


if __name__ == "__main__":
  app.run(main)
