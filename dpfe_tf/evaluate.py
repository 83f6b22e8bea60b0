"""Accuracy-privacy report of trained models (the paper's Procedure 2 and Section 5).

    python -m dpfe_tf.evaluate                                   # what dpfe_tf.train just wrote
    python -m dpfe_tf.evaluate --model_dir=runs/c7 --model_dir=runs/c4 --data_dir=/celeba

For each model: the private features of the evaluated partition, Gaussian noise N(0, r C)
over a grid of r, the primary accuracy of the predictor on the noisy features and the
privacy measures of an attacker who knows the identities (log-rank privacy, rank mean/std,
1-NN and Bayes error), with a KDE and a classifier estimate of p(y|f). Writes
evaluation.json, evaluation.csv and PNG plots, and prints the Acc-Priv superiority verdicts.
"""

from __future__ import annotations


from absl import app, flags

from dpfe_tf import flags_common

flags_common.quiet_tensorflow()

F = flags.FLAGS
flags.DEFINE_multi_string("model_dir", ["runs/dpfe"], "A training output dir (its simple/ and dpfe/ "
                          "stages) or a stage dir with extractor.keras + predictor.keras. Repeatable.")
flags.DEFINE_string("data_dir", None, "CelebA-layout folder to evaluate on (default: the models' training data).")
flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Partition of --data_dir to evaluate.")
flags.DEFINE_string("output_dir", None, "Where the report goes (default: <first model_dir>/evaluation).")
flags.DEFINE_list("noise", None, "Noise scales r (default: 0,.01,.05,.1,.15,.2,.3,.5,1,2.5,4,6,8).")
flags.DEFINE_list("estimators", ["kde", "classifier"], "Estimators of p(y|f): kde, classifier.")
flags.DEFINE_integer("min_images", 18, "The attacker keeps identities with more than this many images.")
flags.DEFINE_float("probe_fraction", 0.1, "Fraction of the kept images that are probes.")
flags.DEFINE_bool("rotate", False, "Rotate the gallery/probe split so every kept image is a probe once.")
flags.DEFINE_integer("seed", 0, "Seed of the split, the noise and the classifier.")
flags.DEFINE_integer("seeds", 1, "Train (if missing, in <model_dir>/seeds/seed_k) and evaluate Simple and DPFE "
                     "with this many seeds, pool them, rotate the split; intervals are stratified by seed.")
flags.DEFINE_integer("bootstrap", 1000, "Bootstrap resamples of the 95% intervals.")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.")
flags.DEFINE_string("cache_dir", None, "Decoded-image cache.")


def evaluate():
  from dpfe_tf import evaluation
  grid = [float(r) for r in F.noise] if F.noise else None
  result = evaluation.run_evaluation(F.model_dir, F.data_dir, F.split, F.output_dir, grid, F.estimators,
                                     F.min_images, F.probe_fraction, F.rotate, F.seed, F.limit, F.cache_dir,
                                     F.seeds, F.bootstrap)
  evaluation.print_report(*result)
  return 0


main = flags_common.cli_main(evaluate)


if __name__ == "__main__":
  app.run(main)
