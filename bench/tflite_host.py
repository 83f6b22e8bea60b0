"""Host benchmark of exported TFLite models with the LiteRT interpreter (what benchmark_model reports).

    python -m dpfe_tf.export --model_dir=runs/demo/conv7-G          # writes runs/demo/conv7-G/dpfe/tflite/
    python bench/tflite_host.py --export_dir=runs/demo/conv7-G/dpfe/tflite --threads=1

One process per model, single thread by default. Prints init / first / warm-up / average /
median / p90 times, memory delta and peak RSS for every file, the paper's Figure 11 table
(time and memory of conv5_1, conv6_1, conv7 and full MOON relative to conv4_2, next to the
paper's Nexus 6P figures), file sizes, and the bytes sent per image: the private feature vs a
JPEG of the input image.
"""

import glob
import io
import json
import os

from absl import app, flags

flags.DEFINE_string("export_dir", "runs/demo/conv7-G/dpfe/tflite", "Folder written by dpfe_tf.export.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_integer("warmup", 5, "Warm-up runs.")
flags.DEFINE_integer("runs", 30, "Timed runs.")
flags.DEFINE_integer("jpeg_quality", 90, "Quality of the JPEG compared with the private feature.")
F = flags.FLAGS


def main(_):
  import numpy as np
  from PIL import Image

  from dpfe_tf.mobile import host_benchmark, table

  files = sorted(glob.glob(os.path.join(F.export_dir, "*.tflite")))
  if not files:
    raise app.UsageError(f"no .tflite files in {F.export_dir}: run python -m dpfe_tf.export first")
  records = {}
  for i, f in enumerate(files):
    print(f"[{i + 1}/{len(files)}] {os.path.basename(f)}", flush=True)
    records[f] = host_benchmark.benchmark(f, F.threads, F.warmup, F.runs)
  print(f"\nLiteRT interpreter, {F.threads} thread(s), {F.warmup} warm-up + {F.runs} timed runs, "
        "one process per model (times in ms):")
  print(table.per_model(records))
  print("\nFigure 11 (time: average inference; memory: RSS growth from before loading the model):")
  print(table.figure_11(records))
  summary = os.path.join(F.export_dir, "export.json")
  if os.path.isfile(summary):
    with open(summary) as f:
      s = json.load(f)
    card = json.load(open(os.path.join(F.export_dir, s["extractor"][next(iter(s["extractor"]))]["file"].replace(".tflite", ".json"))))
    data_dir = card["source"]["data_dir"]
    from dpfe_tf.data import celeba
    test = celeba.load(data_dir, "test", tuple(s["image_size"]), limit=200)
    jpeg = [len(_jpeg(Image.fromarray(np.asarray(im)), F.jpeg_quality)) for im in test.images]
    dim = card["feature_dim"]
    print(f"\nBytes sent per image ({len(jpeg)} test images of {data_dir}):")
    print(f"  private feature: {dim * 4} (float32) / {dim} (int8) bytes for {dim} values")
    print(f"  JPEG q{F.jpeg_quality} of the {s['image_size'][0]}x{s['image_size'][1]} input: "
          f"{np.mean(jpeg):.0f} bytes on average ({np.mean(jpeg) / (dim * 4):.0f}x the float32 feature)")


def _jpeg(img, quality):
  buf = io.BytesIO()
  img.save(buf, format="JPEG", quality=quality)
  return buf.getvalue()


if __name__ == "__main__":
  app.run(main)
