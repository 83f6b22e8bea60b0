#!/usr/bin/env bash
# Issue 13: every attacker on the CelebA subset's test identities, conv7 and conv4_2, attribute set G:
# the original MOON's cut (PCA to 10-d), Simple and DPFE (default y-remover), 3 seeds, every kept
# image a probe once, 95% intervals; then the full suite with the reconstruction attacker on seed 0
# (timed), and the per-attacker timing bench.
# Usage: bash experiments/celeba_attacks.sh [DATA_DIR] [OUT_DIR]      (about 2 hours on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
for layer in conv7 conv4_2; do
  python -m dpfe_tf.train --data_dir="$DATA" --output_dir="$OUT" --epochs_original=15 --layer=$layer --attributes=G \
    --noevaluate
  python -m dpfe_tf.evaluate --model_dir="$OUT/$layer-G" --seeds=3 --baselines=original_pca --attackers=all \
    --reconstruction_noise= --output_dir="$OUT/$layer-G/attacks"
done
time python -m dpfe_tf.evaluate --model_dir="$OUT/conv7-G" --attackers=all --output_dir="$OUT/conv7-G/attacks-seed0"
python bench/attackers_time.py --model_dir="$OUT/conv7-G/dpfe" --noise=0
python -m dpfe_tf.report "$OUT"
