#!/usr/bin/env bash
# Issue 7: choose the y-remover's beta and margin on validation identities, then compare Simple
# and DPFE over 3 seeds with bootstrap intervals (conv7, G, CelebA subset at 109x89).
# Needs the original MOON of experiments/celeba_subset.sh.
# Usage: bash experiments/celeba_beta_search.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
python -m dpfe_tf.train --data_dir="$DATA" --image_size=109x89 --seed=0 --output_dir="$OUT/conv7-G-auto" \
  --layer=conv7 --attributes=G --original_model="$OUT/original/original/model.keras" --noevaluate \
  --beta=auto --margin=auto --beta_candidates=0.1,0.3,1,3 --margin_candidates=1,2.236 --min_images=10
python -m dpfe_tf.evaluate --model_dir="$OUT/conv7-G-auto" --seeds=3
