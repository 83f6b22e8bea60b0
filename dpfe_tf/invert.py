"""The reconstruction attack: train decoders on what the phone sends, measure what they recover.

    python -m dpfe_tf.invert --model_dir=runs/c7 --model_dir=runs/c4 --source=original,simple,dpfe

For each training run (its cut layer) and each source — ``original``: the original MOON's raw
output at that layer; ``simple`` / ``dpfe``: that stage's private feature — a decoder is
trained on the training partition (Euclidean loss) and evaluated on the test identities:
PSNR, SSIM and re-identification (top-1 and log-rank privacy of nearest-gallery matching in
the original MOON's penultimate embedding, every test photo a probe once). Writes
inversion.json and a grid PNG like the paper's Figure 10.
"""

from __future__ import annotations

import os

from absl import app, flags

from dpfe_tf import flags_common

flags_common.quiet_tensorflow()

F = flags.FLAGS
flags.DEFINE_multi_string("model_dir", ["runs/dpfe"], "Training run dir(s); each contributes its cut layer.")
flags.DEFINE_list("source", ["original", "simple", "dpfe"], "What the attacker inverts.")
flags.DEFINE_string("data_dir", None, "CelebA-layout folder (default: the runs' training data).")
flags.DEFINE_string("output_dir", None, "Where the report goes (default: <first model_dir>/inversion).")
flags.DEFINE_integer("epochs", 10, "Decoder training epochs.")
flags.DEFINE_integer("batch_size", 64, "Decoder batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("grid_images", 8, "Test images shown in the grid.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_integer("limit", None, "At most this many images per partition.")
flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")


def sender(run_dir, source):
  """(a model image -> what the phone sends, cut layer, original MOON) for a run and a source."""
  import keras

  from dpfe_tf import io_utils, training
  cfg = io_utils.read_json(os.path.join(run_dir, "simple", "config.json"))["config"]
  original_path = cfg.get("original_model") or os.path.join(run_dir, "original", "model.keras")
  original = training.load_model(original_path)
  if source == "original":
    model = keras.Model(original.input, original.get_layer(cfg["layer"]).output)
  elif source in ("simple", "dpfe"):
    model = training.load_model(os.path.join(run_dir, source, "extractor.keras"))
  else:
    raise ValueError(f"unknown source {source!r}; use original, simple or dpfe")
  return model, cfg["layer"], original, cfg.get("data_dir")


def attack(run_dir, source, train, test, epochs=10, batch_size=64, lr=1e-3, seed=0, n_grid=8):
  """Trains one decoder and measures it; returns (metrics, grid reconstructions, history)."""
  import keras
  import numpy as np

  from dpfe_tf import inversion
  from dpfe_tf.data import pipeline
  keras.utils.set_random_seed(seed)
  send, layer, original, _ = sender(run_dir, source)
  f_train = send.predict(pipeline.image_batches(train.images, 128), verbose=0)
  f_test = send.predict(pipeline.image_batches(test.images, 128), verbose=0)
  decoder = inversion.build_decoder(f_train.shape[1:], train.image_size)
  decoder.compile(keras.optimizers.Adam(lr), "mse")
  y_train = np.asarray(train.images, np.float32) / 255.0
  hist = decoder.fit(f_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                     verbose=2, validation_split=0.0)
  recon = decoder.predict(f_test, batch_size=128, verbose=0) * 255.0
  real = np.asarray(test.images, np.float32)
  psnr, ssim = inversion.psnr_ssim(recon, real)
  embed = inversion.embedding(original)
  e_recon = embed.predict(recon, batch_size=128, verbose=0)
  e_real = embed.predict(real, batch_size=128, verbose=0)
  reid = inversion.reidentify_rotated(e_recon, e_real, test.identities, seed)
  metrics = {"run": run_dir, "layer": layer, "source": source, "sent_shape": list(f_train.shape[1:]),
             "psnr_db": psnr, "ssim": ssim, "reidentification": reid.__dict__,
             "final_train_loss": float(hist.history["loss"][-1])}
  return metrics, recon[:n_grid], hist.history["loss"]


def main_cli():
  import numpy as np

  from dpfe_tf import io_utils, plots
  from dpfe_tf.data import celeba, synthetic
  data_dirs = {sender_data_dir(d) for d in F.model_dir}
  data_dir = F.data_dir or (data_dirs.pop() if len(data_dirs) == 1 else None)
  if data_dir is None and len(data_dirs) > 1:
    raise ValueError("the runs were trained on different data; pass --data_dir")
  data_dir = data_dir or synthetic.ensure_default()
  size = tuple(io_utils.read_json(os.path.join(F.model_dir[0], "simple", "config.json"))["config"]["image_size"])
  train = celeba.load(data_dir, "train", size, cache_dir=F.cache_dir, limit=F.limit)
  test = celeba.load(data_dir, "test", size, cache_dir=F.cache_dir, limit=F.limit)
  out = F.output_dir or os.path.join(F.model_dir[0], "inversion")
  results, rows = [], []
  for run in F.model_dir:
    for source in F.source:
      print(f"== decoder for {source} at {run}", flush=True)
      m, grid, _ = attack(run, source, train, test, F.epochs, F.batch_size, F.learning_rate, F.seed, F.grid_images)
      r = m["reidentification"]
      print(f"re-identification from {source} reconstructions at {m['layer']}: top-1 {r['top1_accuracy']:.3f}, "
            f"log-rank privacy {r['log_rank_privacy']:.3f} (random {r['random_log_rank']:.3f}, K = {r['K']}, "
            f"{r['n_probe']} probes); PSNR {m['psnr_db']:.2f} dB, SSIM {m['ssim']:.3f}", flush=True)
      results.append(m)
      rows.append((f"{source} {m['layer']}", grid))
  # The ceiling: the same matching with the real photos as probes (what the embedding can do at best).
  from dpfe_tf import inversion
  real_all = np.asarray(test.images, np.float32)
  e_real = inversion.embedding(sender(F.model_dir[0], "original")[2]).predict(real_all, batch_size=128, verbose=0)
  ceiling = inversion.reidentify_rotated(e_real, e_real, test.identities, F.seed)
  print(f"re-identification from the real photos (ceiling of the embedding): top-1 {ceiling.top1_accuracy:.3f}, "
        f"log-rank privacy {ceiling.log_rank_privacy:.3f} (random {ceiling.random_log_rank:.3f}, K = {ceiling.K})")
  io_utils.write_json(os.path.join(out, "inversion.json"), {"data_dir": os.path.abspath(data_dir), "results": results,
                                                            "real_photos": ceiling.__dict__})
  real = np.asarray(test.images[:F.grid_images], np.float32)
  plots.reconstruction_grid(real, rows, os.path.join(out, "reconstructions.png"))
  print(f"report: {out}/inversion.json, reconstructions.png")
  return 0


def sender_data_dir(run_dir):
  from dpfe_tf import io_utils
  return io_utils.read_json(os.path.join(run_dir, "simple", "config.json"))["config"].get("data_dir")


main = flags_common.cli_main(main_cli)

if __name__ == "__main__":
  app.run(main)
