"""User-side verification of a released TFLite extractor (the paper's publicly verifiable extractor).

    python -m dpfe_tf.verify --extractor=extractor_conv7_int8.tflite --data_dir=my_labelled_faces
        [--predictor=predictor.keras] [--card=extractor_conv7_int8.json] [--split=all]

Checks the file against its model card's SHA-256, runs it on the user's own labelled photos (a
CelebA-layout folder) and reports what an attacker who knows those people recovers (log-rank
privacy, top-1, rank mean/std, 1-NN error, each feature attacker and the worst), and with the
cloud predictor (checked to belong to this extractor) the primary accuracy. Exit code 1 when the
hash does not match (the report is still printed).
"""

from __future__ import annotations

from absl import flags as absl_flags

from dpfe_tf import config as C
from dpfe_tf import flags as dflags

V = C.VerifyConfig
dflags.seed()
dflags.min_images()
absl_flags.DEFINE_string("extractor", None, "The released .tflite extractor.")
absl_flags.DEFINE_string("card", None, "Its model card (default: the .json beside it).")
absl_flags.DEFINE_string("data_dir", None, "CelebA-layout folder of the user's labelled photos.")
absl_flags.DEFINE_enum("split", V.split, ["all", *C.SPLITS], "Which partition of --data_dir.")
absl_flags.DEFINE_string("predictor", None, "Optional cloud predictor (.keras) to report accuracy.")
absl_flags.DEFINE_list("attackers", list(V.attackers), "Attackers on the features: feature (kde, lda, classifier: "
                       "those that need no public people) or some of them.")
absl_flags.DEFINE_bool("rotate", V.rotate, "Every kept image is a probe once.")
absl_flags.DEFINE_string("output", None, "Also write the report as JSON here.")
absl_flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")
absl_flags.mark_flags_as_required(["extractor", "data_dir"])
dflags.adopt()
F = absl_flags.FLAGS


def configure():
  return C.VerifyConfig(extractor=F.extractor, data_dir=F.data_dir, card=F.card, split=F.split, predictor=F.predictor,
                       attackers=tuple(F.attackers), min_images=F.min_images, rotate=F.rotate, seed=F.seed,
                       cache_dir=F.cache_dir)


def verify_cli(cfg):
  from dpfe_tf import io_utils
  from dpfe_tf.mobile import verification
  r = verification.verify(cfg)
  print(verification.format_report(r))
  if F.output:
    io_utils.write_json(F.output, r)
  return 0 if r["hash"]["ok"] else 1


main = dflags.cli_main(configure, verify_cli)


if __name__ == "__main__":
  dflags.run(main)
