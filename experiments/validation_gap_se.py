"""Paired standard error of the Simple -> DPFE accuracy gap on the validation partition.

    python experiments/validation_gap_se.py runs/celeba-subset/conv7-G-auto runs/celeba-subset/conv4_2-G-auto

How finely the --beta=auto search's validation images can tell two models' accuracies apart
(the README's "1.6-1.9 points" on the CelebA subset's 413 validation images).
"""

import sys

from dpfe_tf import evaluation, selection
from dpfe_tf.data import attributes as attrs
from dpfe_tf.data import celeba


def right_per_image(ref, data):
  logits = evaluation.predict_fn(ref)(evaluation.features_of(ref, data))
  labels = data.attributes[:, attrs.attribute_indices(ref.attribute_names)]
  return ((logits > 0) == (labels > 0)).mean(axis=1)


def main(run_dirs):
  for run in run_dirs:
    simple, dpfe = (evaluation.load_stage(f"{run}/{stage}") for stage in ("simple", "dpfe"))
    val = celeba.load(evaluation.resolve_data_dir([simple], None), "val", simple.image_size)
    a, b = right_per_image(simple, val), right_per_image(dpfe, val)
    print(f"{run}: {len(val)} validation images, accuracy Simple {a.mean():.3f}, DPFE {b.mean():.3f}, "
          f"paired standard error of the gap {100 * selection.paired_se(b, a):.2f} points")


if __name__ == "__main__":
  main(sys.argv[1:] or ["runs/celeba-subset/conv7-G-auto"])
