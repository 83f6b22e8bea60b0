#!/usr/bin/env bash
# Issue 13 (reconstruction): decoders for the original MOON's raw cut, Simple's and DPFE's private
# feature at conv4_2 and conv7 (attribute set G), their reconstructions re-identified by dlib's face
# recogniser (and by MOON's embedding) against the real test photos and against the gallery's own
# reconstructions, beside the real-photo ceiling. One report per layer (<variant>/inversion), so a
# finished layer is kept. Needs the trained variants of experiments/celeba_attacks.sh (docs/results.md).
# Usage: bash experiments/celeba_inversion.sh [CONV4_2_VARIANT] [CONV7_VARIANT] [EPOCHS]   (about 1 h on 2 CPU cores)
set -euo pipefail
CONV4=${1:-runs/celeba-conv4/conv4_2-G}
CONV7=${2:-runs/celeba-subset/conv7-G}
EPOCHS=${3:-10}
for variant in "$CONV4" "$CONV7"; do
  python -m dpfe_tf.invert --model_dir="$variant" --source=original,simple,dpfe --epochs="$EPOCHS" \
    --output_dir="$variant/inversion"
done
