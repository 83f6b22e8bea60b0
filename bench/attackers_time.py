"""Time of each attacker on one model's features, and the face recogniser's embedding rate.

    python bench/attackers_time.py --model_dir=runs/celeba-subset/conv7-G/dpfe --noise=0,1

Runs every attacker of the evaluation on the test identities (every kept image a probe once) at
the given noise levels, side by side, and prints the seconds each took and its log-rank privacy;
then embeds --faces test photos with dlib and prints images/s (one process, and the parallel
workers the evaluation uses).
"""

import os
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("model_dir", "runs/celeba-subset/conv7-G/dpfe", "A trained stage folder.")
flags.DEFINE_list("noise", ["0"], "Noise levels.")
flags.DEFINE_list("attackers", ["all"], "Attackers.")
flags.DEFINE_integer("faces", 200, "Photos embedded for the face-recogniser rate.")
F = flags.FLAGS


def main(_):
  import numpy as np

  from dpfe_tf import config, run_dir
  from dpfe_tf.privacy import evaluation, face

  cfg = config.EvalConfig(model_dirs=(F.model_dir,), noise_grid=tuple(float(r) for r in F.noise),
                          attackers=tuple(F.attackers), bootstrap=10)
  t = time.perf_counter()
  result = evaluation.evaluate(cfg, progress=False)
  total = time.perf_counter() - t
  print(f"{'r':>5} {'attacker':<15} {'seconds':>8} {'log-rank privacy':>17}")
  for p in result.curves[0].points:
    for name, secs in p.seconds.items():
      lrp = p.privacy[name].log_rank_privacy if name in p.privacy else float("nan")
      print(f"{p.r:>5g} {name:<15} {secs:>8.1f} {lrp:>17.3f}")
  print(f"whole evaluation (features, attackers, intervals): {total:.1f} s for {len(cfg.noise_grid)} noise level(s)")
  if face.available():
    test = run_dir.stages_at(F.model_dir)[0].train_config().data.load("test")
    paths = test.image_paths()[:F.faces]
    rec = face.FaceRecogniser()
    from PIL import Image
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    t = time.perf_counter()
    rec.embed(imgs)
    one = len(imgs) / (time.perf_counter() - t)
    t = time.perf_counter()
    face.embed_parallel(np.array(paths), "files")
    par = len(imgs) / (time.perf_counter() - t)
    print(f"face recogniser (dlib ResNet, {len(imgs)} photos): {one:.1f} images/s in one process, {par:.1f} images/s "
          f"with {os.cpu_count()} worker processes (their start-up included)")


if __name__ == "__main__":
  app.run(main)
