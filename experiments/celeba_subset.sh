#!/usr/bin/env bash
# The README's CelebA-subset figures (issues 2-4): original MOON once, then Simple and DPFE at
# conv7 and conv4_2 for G and GA with the reference y-remover (beta 0.01, margin 10), half
# resolution 109x89; each pair evaluated with every kept test image a probe once; the conv7/G
# DPFE extractor exported to TFLite and benchmarked on this host.
# Usage: bash experiments/celeba_subset.sh [DATA_DIR] [OUT_DIR]      (about 1.5 hours on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
COMMON=(--data_dir="$DATA" --image_size=109x89 --seed=0)
python -m dpfe_tf.train "${COMMON[@]}" --output_dir="$OUT/original" --stage=original --epochs_original=15
for layer in conv7 conv4_2; do
  for attrs in G GA; do
    python -m dpfe_tf.train "${COMMON[@]}" --output_dir="$OUT/$layer-$attrs" --layer=$layer \
      --attributes=$attrs --original_model="$OUT/original/original/model.keras" --noevaluate
    python -m dpfe_tf.evaluate --model_dir="$OUT/$layer-$attrs" --rotate
  done
done
python -m dpfe_tf.report "$OUT"/original "$OUT"/conv7-G "$OUT"/conv7-GA "$OUT"/conv4_2-G "$OUT"/conv4_2-GA
python -m dpfe_tf.export --model_dir="$OUT/conv7-G" --qat
python bench/tflite_host.py --export_dir="$OUT/conv7-G/dpfe/tflite"
