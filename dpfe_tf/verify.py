"""User-side verification of a released TFLite extractor (the paper's publicly verifiable extractor).

    python -m dpfe_tf.verify --extractor=extractor_conv7_int8.tflite --data_dir=my_labelled_faces
        [--predictor=predictor.keras] [--card=extractor_conv7_int8.json] [--split=test]

Checks the file against its model card's SHA-256, runs it on the user's own labelled images
(a CelebA-layout folder: the user's photos with identity and attribute files) and reports the
privacy measures of an attacker who knows those identities (log-rank privacy, rank mean/std,
1-NN and Bayes error, KDE and classifier) and, when the cloud predictor is given, the primary
accuracy. Exit code 1 when the hash does not match (the report is still printed).
"""

from __future__ import annotations

import os

from absl import app, flags

from dpfe_tf import flags_common

flags_common.quiet_tensorflow()

F = flags.FLAGS
flags.DEFINE_string("extractor", None, "The released .tflite extractor.")
flags.DEFINE_string("card", None, "Its model card (default: the .json beside it).")
flags.DEFINE_string("data_dir", None, "CelebA-layout folder of the user's labelled images.")
flags.DEFINE_enum("split", "all", ["all", "train", "val", "test"], "Which partition of --data_dir.")
flags.DEFINE_string("predictor", None, "Optional cloud predictor (.keras) to report accuracy.")
flags.DEFINE_list("estimators", ["kde", "classifier"], "Attackers' estimators of p(y|f).")
flags.DEFINE_integer("min_images", 18, "The attacker keeps identities with more than this many images.")
flags.DEFINE_bool("rotate", True, "Every kept image is a probe once.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("output", None, "Also write the report as JSON here.")
flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")


def load_images(data_dir, split, image_size, cache_dir=None):
  from dpfe_tf.data import celeba
  if split != "all":
    return celeba.load(data_dir, split, image_size, cache_dir=cache_dir)
  parts = []
  for s in ("train", "val", "test"):
    try:
      parts.append(celeba.load(data_dir, s, image_size, cache_dir=cache_dir))
    except celeba.DataError as e:
      if "no image in the" not in str(e):
        raise
  import numpy as np
  return celeba.FaceData(np.concatenate([np.asarray(p.images) for p in parts]),
                         np.concatenate([p.attributes for p in parts]),
                         np.concatenate([p.identities for p in parts]),
                         [f for p in parts for f in p.filenames])


def verify(extractor, data_dir, card_file=None, split="all", predictor=None,
           estimator_names=("kde", "classifier"), min_images=18, rotate=True, seed=0, cache_dir=None):
  from dpfe_tf import accuracy, io_utils
  from dpfe_tf.data import attributes as attrs
  from dpfe_tf.mobile import card, runtime
  from dpfe_tf.privacy import measures
  model = runtime.TFLiteModel(extractor)
  c = io_utils.read_json(card_file) if card_file else None
  hash_check = card.check_hash(extractor, c)
  c = c or (io_utils.read_json(card.card_path(extractor)) if hash_check["card"] else None)
  h, w = model.input_shape[1:3]
  data = load_images(data_dir, split, (h, w), cache_dir)
  features = model.run(data.images.astype("float32"))
  report = {"extractor": os.path.abspath(extractor), "hash": hash_check, "images": len(data),
            "identities": data.num_identities, "feature_dim": int(features.shape[1]),
            "privacy": {e: measures.pooled_privacy(features, data.identities, e, min_images, seed=seed,
                                                   rotate=rotate).as_dict() for e in estimator_names}}
  if predictor:
    from dpfe_tf import training
    pred = training.load_model(predictor)
    names = tuple((c or {}).get("attributes") or ())
    if len(names) != pred.output_shape[-1]:
      raise ValueError(f"the predictor has {pred.output_shape[-1]} outputs; the model card lists "
                       f"{len(names)} attributes")
    logits = pred.predict(features, verbose=0, batch_size=1024)
    report["accuracy"] = accuracy.attribute_accuracy(
        logits, data.attributes[:, attrs.attribute_indices(names)], names)
  return report


def format_report(r) -> str:
  h = r["hash"]
  lines = [f"extractor: {r['extractor']}",
           f"SHA-256: {h['actual']} " + ("matches the model card" if h["ok"] else f"DOES NOT MATCH ({h['reason']})"),
           f"images: {r['images']} of {r['identities']} identities; feature dim {r['feature_dim']}"]
  for e, p in r["privacy"].items():
    lines.append(f"{e:>10}: log-rank privacy {p['log_rank_privacy']:.3f} (random {p['random_log_rank']:.3f}), "
                 f"rank mean {p['rank_mean']:.3f} +- {p['rank_std']:.3f}, 1-NN error {p['one_nn_error']:.3f}, "
                 f"Bayes error {p['bayes_error']:.3f}; K = {p['K']}, {p['n_probe']} probes")
  if "accuracy" in r:
    a = r["accuracy"]
    lines.append("accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in a["accuracy"].items())
                 + f" (mean {a['mean_accuracy']:.3f}, chance {a['mean_chance']:.3f})")
  return "\n".join(lines)


def verify_cli():
  from dpfe_tf import io_utils
  r = verify(F.extractor, F.data_dir, F.card, F.split, F.predictor, tuple(F.estimators),
             F.min_images, F.rotate, F.seed, F.cache_dir)
  print(format_report(r))
  if F.output:
    io_utils.write_json(F.output, r)
  return 0 if r["hash"]["ok"] else 1


main = flags_common.cli_main(verify_cli)


if __name__ == "__main__":
  flags.mark_flags_as_required(["extractor", "data_dir"])
  app.run(main)
