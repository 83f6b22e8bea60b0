"""User-side verification of a released TFLite extractor (the paper's publicly verifiable extractor).

Checks the file against its model card's SHA-256, runs it on the user's own labelled photos (a
CelebA-layout folder) and measures what an attacker who knows those people recovers (every
feature attacker, worst case named); with the cloud predictor, also the primary accuracy, after
checking that the predictor belongs to this extractor (its pairing id).
"""

from __future__ import annotations

import os

import numpy as np

from dpfe_tf import config as config_lib
from dpfe_tf import run_dir
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import celeba
from dpfe_tf.mobile import card as card_lib
from dpfe_tf.mobile import runtime
from dpfe_tf.models import separation
from dpfe_tf.privacy import attackers as attackers_lib
from dpfe_tf.privacy import measures
from dpfe_tf.privacy.attackers.base import AttackData


def load_photos(cfg: config_lib.VerifyConfig, image_size) -> celeba.FaceData:
  data = config_lib.DataConfig(cfg.data_dir, image_size, cfg.cache_dir)
  if cfg.split != "all":
    return data.load(cfg.split)
  parts = []
  for s in config_lib.SPLITS:
    try:
      parts.append(data.load(s))
    except celeba.DataError as e:
      if "no image in the" not in str(e):
        raise
  if not parts:
    raise celeba.DataError(f"{cfg.data_dir}: no image in any partition")
  return celeba.FaceData.concatenate(parts)


def verify(cfg: config_lib.VerifyConfig) -> dict:
  model = runtime.TFLiteModel(cfg.extractor)
  card_file = cfg.card or card_lib.card_path(cfg.extractor)
  card = card_lib.read_card(card_file) if os.path.isfile(card_file) else None
  hash_check = card_lib.check_hash(cfg.extractor, card)
  data = load_photos(cfg, model.input_shape[1:3])
  features = model.run(np.asarray(data.images, np.float32))
  names, _ = attackers_lib.resolve(cfg.attackers, photos=False)
  names = [n for n in names if n in attackers_lib.GALLERY_ATTACKERS]   # no public people here
  kept = measures.kept_indices(data.identities, cfg.min_images)
  attack = AttackData(features[kept], data.identities[kept], cfg.seed)
  folds = measures.splits(attack.identities, cfg.min_images, seed=cfg.seed, rotate=cfg.rotate)
  privacy = {n: measures.pooled(attackers_lib.make(n), attack, folds).as_dict() for n in names}
  worst = min(privacy, key=lambda n: privacy[n]["log_rank_privacy"])
  report = {"extractor": os.path.abspath(cfg.extractor), "hash": hash_check, "images": len(data),
            "identities": data.num_identities, "feature_dim": int(features.shape[1]), "privacy": privacy,
            "worst": {"attacker": worst, "log_rank_privacy": privacy[worst]["log_rank_privacy"]}}
  if cfg.predictor:
    if card is None:
      raise ValueError(f"--predictor needs the extractor's model card ({card_file} is missing): it names the "
                       "attributes and the extractor the predictor must belong to")
    pred = run_dir.load_model(cfg.predictor, "the predictor")
    separation.check_pair(card.get("extractor_id"), pred, cfg.predictor)
    names = tuple(card.get("attributes") or ())
    if len(names) != pred.output_shape[-1]:
      raise ValueError(f"the predictor has {pred.output_shape[-1]} outputs; the model card lists {len(names)} attributes")
    logits = pred.predict(features, verbose=0, batch_size=1024)
    report["accuracy"] = attrs.attribute_accuracy(logits, data.attributes[:, attrs.attribute_indices(names)], names)
  return report


def format_report(r) -> str:
  h = r["hash"]
  lines = [f"extractor: {r['extractor']}",
           f"SHA-256: {h['actual']} " + ("matches the model card" if h["ok"] else f"DOES NOT MATCH ({h['reason']})"),
           f"images: {r['images']} of {r['identities']} identities; feature dim {r['feature_dim']}"]
  for e, p in r["privacy"].items():
    lines.append(f"{e:>10}: log-rank privacy {p['log_rank_privacy']:.3f} (random {p['random_log_rank']:.3f}), "
                 f"top-1 {p['top1']:.3f}, rank mean {p['rank_mean']:.3f} +- {p['rank_std']:.3f}, 1-NN error "
                 f"{p['one_nn_error']:.3f}; K = {p['K']}, {p['n_probe']} probes")
  lines.append(f"worst case: {r['worst']['attacker']}, log-rank privacy {r['worst']['log_rank_privacy']:.3f}")
  if "accuracy" in r:
    a = r["accuracy"]
    lines.append("accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in a["accuracy"].items())
                 + f" (mean {a['mean_accuracy']:.3f}, chance {a['mean_chance']:.3f})")
  return "\n".join(lines)
