#!/usr/bin/env bash
# Issue 5: the reconstruction attack on the CelebA subset, conv7 and conv4_2 (attribute set G), decoders for
# the original MOON's raw cut, the Simple and the DPFE private feature. Needs experiments/celeba_subset.sh first.
# Usage: bash experiments/celeba_inversion.sh [OUT_DIR]          (about 30 minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:-runs/celeba-subset}
python -m dpfe_tf.invert --model_dir="$OUT/conv7-G" --model_dir="$OUT/conv4_2-G" --source=original,simple,dpfe \
  --epochs=8 --output_dir="$OUT/inversion"
