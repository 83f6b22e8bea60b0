"""DPFE training throughput on one device vs MirroredStrategy over R logical CPU devices.

    python bench/distribute_throughput.py --replicas=2 --image_size=64x52 --batch_size=64

Each configuration trains in its own process (splitting the CPU must precede TensorFlow's
start), in alternating rounds so machine load affects both alike; the same global batch, the
y-remover's pairs formed the same way (one device uses --pair_groups=R semantics). Prints
images/s of each and their ratio, and the training loss each reached: the same starting
weights and batches, so the two losses should agree (the correctness check of tests/test_distribute.py). On a CPU-only machine this measures the strategy's overhead,
not a speed-up: both configurations share the same cores. On a multi-GPU machine pass
--devices=gpu to compare one GPU with MirroredStrategy over all of them.
"""

import os
import re
import subprocess
import sys
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("layer", "conv7", "Cut layer.")
flags.DEFINE_string("image_size", "64x52", "HxW.")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_integer("images_per_identity", 8, "K of the P x K batch.")
flags.DEFINE_integer("replicas", 2, "Logical CPU devices of the mirrored configuration.")
flags.DEFINE_enum("devices", "cpu", ["cpu", "gpu"], "cpu: split the CPU; gpu: all local GPUs.")
flags.DEFINE_integer("steps", 20, "Timed steps per round.")
flags.DEFINE_integer("rounds", 2, "Alternating rounds.")
flags.DEFINE_enum("worker", None, ["default", "mirrored"], "Internal: run one configuration.")
F = flags.FLAGS


def worker():
  import keras
  import numpy as np
  import tensorflow as tf

  from dpfe_tf.config import parse_image_size
  from dpfe_tf.defences import y_remover
  from dpfe_tf.models import separation
  from dpfe_tf.models.training_model import TrainingModel
  from dpfe_tf.training import distribute

  strategy = None
  if F.worker == "mirrored":
    strategy = distribute.make_strategy("mirrored", cpu_replicas=F.replicas if F.devices == "cpu" else None)
  replicas = distribute.replicas(strategy) if strategy else 1
  size = parse_image_size(F.image_size)
  keras.utils.set_random_seed(0)
  split = separation.build_split(F.layer, size, 10, 1)
  groups = 1 if strategy else (F.replicas if F.devices == "cpu" else 1)
  host = TrainingModel(split.extractor, split.predictor, y_remover.YRemover(margin=4.47, beta=1.0, groups=groups))
  host.compile(optimizer=keras.optimizers.Adam(1e-4))
  model = distribute.replicate(host, strategy)
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 255, (F.batch_size, *size, 3)).astype("float32")
  y = rng.integers(0, 2, (F.batch_size, 1)).astype("float32")
  ids = np.repeat(np.arange(F.batch_size // F.images_per_identity), F.images_per_identity).astype("int32")
  ds = tf.data.Dataset.from_tensors(({"image": x, "identity": ids}, y)).repeat()
  with distribute.scope(strategy):
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace and warm up
    t = time.perf_counter()
    loss = float(np.mean(model.fit(ds, steps_per_epoch=F.steps, epochs=1, verbose=0).history["loss"][-1]))
  print(f"REPLICAS {replicas} SECONDS {time.perf_counter() - t:.6f} LOSS {loss:.6f}", flush=True)


def main(_):
  if F.worker:
    worker()
    return
  seconds = {"default": 0.0, "mirrored": 0.0}
  loss = {}
  replicas = None
  args = [a for a in sys.argv[1:] if not a.startswith("--worker")]
  for _ in range(F.rounds):
    for mode in seconds:
      out = subprocess.run([sys.executable, os.path.abspath(__file__), *args, f"--worker={mode}"],
                           capture_output=True, text=True)
      m = re.search(r"REPLICAS (\d+) SECONDS ([\d.]+) LOSS ([\d.]+)", out.stdout)
      if out.returncode != 0 or not m:
        raise RuntimeError(f"{mode} worker failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
      seconds[mode] += float(m.group(2))
      loss[mode] = float(m.group(3))
      if mode == "mirrored":
        replicas = int(m.group(1))
  n = F.rounds * F.steps * F.batch_size
  rate = {k: n / s for k, s in seconds.items()}
  print(f"DPFE step, layer {F.layer}, {F.image_size}, global batch {F.batch_size}, {n} images per "
        f"configuration, {os.cpu_count()} CPU cores")
  print(f"one device:                     {rate['default']:8.1f} images/s")
  print(f"MirroredStrategy, {replicas} replicas:    {rate['mirrored']:8.1f} images/s")
  print(f"mirrored / one device: {rate['mirrored'] / rate['default']:.3f}")
  print(f"loss after {F.steps + 3} steps: one device {loss['default']:.5f}, mirrored {loss['mirrored']:.5f} "
        f"(relative difference {abs(loss['mirrored'] / loss['default'] - 1):.1e})")


if __name__ == "__main__":
  app.run(main)
