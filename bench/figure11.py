"""The paper's Figure 11 at its input size: cost of the extractor cut at each layer, on this host.

    python bench/figure11.py --image_size=full --forms=float32,int8 --threads=1

Builds the MOON trunk cut at conv4_2, conv5_1, conv6_1, conv7 and the full MOON from the layer
table (timing and memory depend on the geometry, not on trained weights), exports each as a
batch-1 TFLite file, benchmarks every file in its own process with the LiteRT interpreter
and prints time and memory relative to conv4_2 beside the paper's Nexus 6P figures.
"""

import os
import tempfile

from absl import app, flags

flags.DEFINE_string("image_size", "full", "HxW or 'full' (218x178).")
flags.DEFINE_list("forms", ["float32", "int8"], "TFLite forms.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_integer("warmup", 5, "Warm-up runs.")
flags.DEFINE_integer("runs", 30, "Timed runs.")
F = flags.FLAGS


def main(_):
  import numpy as np

  from dpfe_tf.config import parse_image_size
  from dpfe_tf.mobile import convert, host_benchmark, table
  from dpfe_tf.models import moon

  size = parse_image_size(F.image_size)
  rep = np.random.default_rng(0).uniform(0, 255, (16, *size, 3)).astype("float32")
  models = [(f"trunk_{l}", moon.build_trunk(l, size, batch_size=1)) for l in moon.PAPER_CUT_LAYERS]
  models.append(("moon_full", moon.build_moon(size, 40, batch_size=1)))
  records = {}
  with tempfile.TemporaryDirectory() as d:
    for name, m in models:
      for form in F.forms:
        path = os.path.join(d, f"{name}_{form}.tflite")
        with open(path, "wb") as f:
          f.write(convert.convert(m, form, rep))
        print(f"benchmarking {name}_{form} ({os.path.getsize(path) / 1e6:.2f} MB)", flush=True)
        records[path] = host_benchmark.benchmark(path, F.threads, F.warmup, F.runs)
    print(f"\nMOON at {size[0]}x{size[1]}, LiteRT interpreter, {F.threads} thread(s), "
          f"{F.runs} timed runs, one process per model (ms, MB):")
    print(table.per_model(records))
    print("\nFigure 11 (memory: RSS growth from before loading the model):")
    print(table.figure_11(records))


if __name__ == "__main__":
  app.run(main)
