"""Training throughput of a Simple step vs a DPFE step (the y-remover's cost), side by side.

    python bench/train_step_throughput.py --layer=conv7 --image_size=109x89 --batch_size=64

Both models are built from the same weights; the two are timed in alternating rounds in one
process so machine load affects both alike. Prints images/s of each and their ratio.
"""

import os
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("layer", "conv7", "Cut layer.")
flags.DEFINE_string("image_size", "109x89", "HxW.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("images_per_identity", 8, "K of the P x K batch.")
flags.DEFINE_integer("steps", 10, "Timed steps per round.")
flags.DEFINE_integer("rounds", 3, "Alternating rounds.")
F = flags.FLAGS


def main(_):
  import keras
  import numpy as np
  from dpfe_tf.flags_common import parse_image_size
  from dpfe_tf.models import separation

  size = parse_image_size(F.image_size)
  split = separation.build_split(F.layer, size, 10, 1)
  simple = split.full()
  dpfe = split.dpfe_training_model(margin=10.0, beta=0.01)
  for m in (simple, dpfe):
    m.compile(keras.optimizers.Adam(1e-4), keras.losses.BinaryCrossentropy(from_logits=True))
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 255, (F.batch_size, *size, 3)).astype("float32")
  y = rng.integers(0, 2, (F.batch_size, 1)).astype("float32")
  ids = np.repeat(np.arange(F.batch_size // F.images_per_identity), F.images_per_identity).astype("int32")
  steps = {"simple": lambda: simple.train_on_batch(x, y),
           "dpfe": lambda: dpfe.train_on_batch({"image": x, "identity": ids}, y)}
  for f in steps.values():  # trace and warm up
    f(); f()
  seconds = {k: 0.0 for k in steps}
  for _ in range(F.rounds):
    for k, f in steps.items():
      t = time.perf_counter()
      for _ in range(F.steps):
        f()
      seconds[k] += time.perf_counter() - t
  n = F.rounds * F.steps * F.batch_size
  rate = {k: n / s for k, s in seconds.items()}
  print(f"layer {F.layer}, {size[0]}x{size[1]}, batch {F.batch_size}, {n} images per model, "
        f"{os.cpu_count()} CPU cores")
  print(f"simple step: {rate['simple']:8.1f} images/s")
  print(f"dpfe step:   {rate['dpfe']:8.1f} images/s")
  print(f"dpfe / simple throughput: {rate['dpfe'] / rate['simple']:.3f} "
        f"(y-remover overhead {100 * (rate['simple'] / rate['dpfe'] - 1):+.1f}% time per image)")


if __name__ == "__main__":
  app.run(main)
