"""The reconstruction experiment (Section 6.3, Figure 10): what a decoder recovers from what the phone sends.

For each variant (its cut layer) and each source -- ``original``: the original MOON's raw cut at
that layer; ``simple`` or a defence: that stage's private feature -- a decoder is trained on the
training partition and measured on the test identities: PSNR, SSIM and **re-identification**:
every test photo's reconstruction matched against the other test photos (every photo a probe
once), by a real face recogniser (dlib, when installed) and, as a second line, by the original
MOON's 2000-d pooled embedding; the same matching on the real photos is the ceiling of each. Each
matcher matches twice: against the real gallery photos, and against the gallery photos'
own reconstructions (the adversary can push its photos through the public extractor and its
decoder, so both sides carry the same blur).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import run_dir
from dpfe_tf.data import pipeline
from dpfe_tf.privacy import face
from dpfe_tf.privacy.attackers import reconstruction as rec


@dataclasses.dataclass
class Sender:
  """What the phone sends for one variant and source, and the original MOON it came from."""
  model: object
  layer: str
  original: object
  data: config_lib.DataConfig


def sender(variant_dir, source) -> Sender:
  import keras
  simple, *stage = run_dir.variant_stages(variant_dir, [run_dir.SIMPLE] + ([] if source == "original" else [source]))
  cfg = simple.train_config()
  original = run_dir.load_model(run_dir.original_of(simple), "the original MOON")
  if source == "original":
    model = keras.Model(original.input, original.get_layer(cfg.layer).output)
  else:
    model = stage[0].load("extractor")
  return Sender(model, cfg.layer, original, cfg.data)


#: The second matching of every matcher: the gallery photos also pushed through the public extractor
#: and the decoder (the adversary holds them and the extractor), so probe and gallery are both
#: reconstructions -- no blur gap between a reconstruction and a sharp photo.
RECONSTRUCTED_GALLERY = " vs reconstructed gallery"


@dataclasses.dataclass
class Embeddings:
  """How reconstructions and photos are matched: a name, and a function images -> vectors."""
  name: str
  embed: object


def attack(s: Sender, train, test, cfg: config_lib.InvertConfig, matchers, real_embeddings):
  """Trains one decoder and measures it; returns (metrics, the first grid reconstructions)."""
  import keras
  f_train = s.model.predict(pipeline.image_batches(train.images, 128), verbose=0)
  f_test = s.model.predict(pipeline.image_batches(test.images, 128), verbose=0)
  perceptual = (keras.Model(s.original.input, s.original.get_layer(cfg.perceptual_layer).output)
                if cfg.perceptual_layer else None)
  decoder, history = rec.train_decoder(f_train, train.images, train.image_size, epochs=cfg.epochs,
                                       batch_size=cfg.batch_size, lr=cfg.learning_rate, seed=cfg.seed,
                                       perceptual=perceptual, verbose=2)
  recon = np.clip(decoder.predict(f_test, batch_size=128, verbose=0) * 255.0, 0, 255)
  psnr, ssim = rec.psnr_ssim(recon, np.asarray(test.images, np.float32))
  reid = {}
  for m in matchers:
    emb = m.embed(recon)
    reid[m.name] = rec.reidentify_rotated(emb, real_embeddings[m.name], test.identities, cfg.seed).__dict__
    reid[m.name + RECONSTRUCTED_GALLERY] = rec.reidentify_rotated(emb, emb, test.identities, cfg.seed).__dict__
  metrics = {"layer": s.layer, "sent_shape": list(f_train.shape[1:]), "psnr_db": psnr, "ssim": ssim,
             "reidentification": reid, "final_train_loss": float(history["loss"][-1])}
  return metrics, recon[:cfg.grid_images]


def matchers_for(cfg: config_lib.InvertConfig, original) -> list[Embeddings]:
  out = []
  if cfg.face_recogniser and face.available():
    out.append(Embeddings("face_recogniser", lambda imgs: face.embed_parallel(
        np.clip(np.asarray(imgs), 0, 255).astype(np.uint8), title=f"  embedding {len(imgs)} images with dlib")[0]))
  moon_embed = rec.embedding(original)
  out.append(Embeddings("moon", lambda imgs: moon_embed.predict(np.asarray(imgs, np.float32), batch_size=128,
                                                                 verbose=0)))
  return out


def gaps_vs_simple(results, seed=0) -> list[dict]:
  """Per variant, matcher and source other than Simple: the source's log-rank privacy minus
  Simple's on the same probes (same test images, same rotated folds), with a paired bootstrap 95%
  interval over the probes (positive: the source's reconstructions give away less identity)."""
  from dpfe_tf.privacy import intervals
  out = []
  simple = {r["variant"]: r for r in results if r["source"] == "simple"}
  for r in results:
    base = simple.get(r["variant"])
    if base is None or r is base:
      continue
    for matcher, a in r["reidentification"].items():
      b = base["reidentification"][matcher]
      diff = (np.log(a["ranks"]) - np.log(b["ranks"])) / np.log(a["K"])
      out.append({"variant": r["variant"], "layer": r["layer"], "source": r["source"], "matcher": matcher,
                  "log_rank_gap": float(diff.mean()), "interval": intervals.bootstrap_ci(diff, seed=seed)})
  return out


def _interval(ci):
  return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def run(cfg: config_lib.InvertConfig):
  """Every (variant, source) decoder; returns (report dict, grid rows, the test images of the grid)."""
  senders = {d: sender(d, "original") for d in cfg.model_dirs}
  datas = {s.data.data_dir for s in senders.values()}
  if cfg.data_dir is None and len(datas) > 1:
    raise ValueError("the variants were trained on different data; pass --data_dir")
  first = next(iter(senders.values()))
  data = first.data if cfg.data_dir is None else dataclasses.replace(first.data, data_dir=cfg.data_dir)
  data = dataclasses.replace(data, cache_dir=cfg.cache_dir or data.cache_dir, limit=cfg.limit)
  train, test = data.load("train"), data.load("test")
  matchers = matchers_for(cfg, first.original)
  real = {}
  for m in matchers:
    if m.name == "face_recogniser" and test.data_dir is not None:
      real[m.name] = face.photo_embeddings(test, data.cache_dir)[0]
    else:
      real[m.name] = m.embed(np.asarray(test.images, np.float32))
  ceiling = {m.name: rec.reidentify_rotated(real[m.name], real[m.name], test.identities, cfg.seed).__dict__
             for m in matchers}
  results, rows = [], []
  for d in cfg.model_dirs:
    for source in cfg.sources:
      print(f"== decoder for {source} at {d}", flush=True)
      s = senders[d] if source == "original" else sender(d, source)
      metrics, grid = attack(s, train, test, cfg, matchers, real)
      metrics.update(variant=d, source=source)
      for name, r in metrics["reidentification"].items():
        print(f"re-identification ({name}) from {source} reconstructions at {metrics['layer']}: top-1 "
              f"{r['top1_accuracy']:.3f} {_interval(r['top1_interval'])}, log-rank privacy "
              f"{r['log_rank_privacy']:.3f} {_interval(r['log_rank_interval'])} (random "
              f"{r['random_log_rank']:.3f}, K = {r['K']}, {r['n_probe']} probes); PSNR {metrics['psnr_db']:.2f} dB, "
              f"SSIM {metrics['ssim']:.3f}", flush=True)
      results.append(metrics)
      rows.append((f"{source} {metrics['layer']}", grid))
  for name, r in ceiling.items():
    print(f"re-identification ({name}) from the real photos (the ceiling): top-1 {r['top1_accuracy']:.3f}, "
          f"log-rank privacy {r['log_rank_privacy']:.3f} (random {r['random_log_rank']:.3f}, K = {r['K']})")
  gaps = gaps_vs_simple(results, cfg.seed)
  for g in gaps:
    print(f"{g['source']} - simple at {g['layer']} ({g['matcher']}): log-rank privacy {g['log_rank_gap']:+.3f} "
          f"[{g['interval'][0]:+.3f}, {g['interval'][1]:+.3f}] (paired, same probes)")
  report = {"data_dir": test.data_dir, "results": results, "real_photos": ceiling, "gaps_vs_simple": gaps,
            "matchers": [m.name for m in matchers], "config": config_lib.to_dict(cfg)}
  return report, rows, np.asarray(test.images[:cfg.grid_images], np.float32)
