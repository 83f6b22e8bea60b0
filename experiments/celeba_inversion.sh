#!/usr/bin/env bash
# Issue 13 (reconstruction): decoders for the original MOON's raw cut, Simple's and DPFE's private
# feature at conv7 and conv4_2 (attribute set G), their reconstructions re-identified by dlib's face
# recogniser against the real test photos (and by MOON's embedding), beside the real-photo ceiling.
# Needs experiments/celeba_attacks.sh first.
# Usage: bash experiments/celeba_inversion.sh [OUT_DIR] [EPOCHS]          (about 1 hour on 2 CPU cores)
set -euo pipefail
OUT=${1:-runs/celeba-subset}
EPOCHS=${2:-20}
python -m dpfe_tf.invert --model_dir="$OUT/conv7-G" --model_dir="$OUT/conv4_2-G" --source=original,simple,dpfe \
  --epochs="$EPOCHS" --output_dir="$OUT/inversion"
