#!/usr/bin/env bash
# Issue 7: choose the y-remover's beta and margin on validation identities, then compare Simple
# and DPFE over 3 seeds with bootstrap intervals (CelebA subset at 109x89), for each cut layer and
# attribute set (default: conv7-G conv4_2-G conv7-GA conv4_2-GA; about 35 min each on 2 CPU cores).
# Needs the original MOON of experiments/celeba_subset.sh. A configuration whose evaluation exists is skipped.
# Usage: bash experiments/celeba_beta_search.sh [DATA_DIR] [OUT_DIR] [LAYER-ATTRS ...]
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
shift $(( $# < 2 ? $# : 2 ))
CONFIGS=("${@:-conv7-G conv4_2-G conv7-GA conv4_2-GA}")
for config in ${CONFIGS[@]}; do
  layer=${config%-*}; attrs=${config##*-}
  run="$OUT/$config-auto"
  if [[ -f "$run/evaluation/evaluation.json" ]]; then echo "skip $run (evaluated)"; continue; fi
  python -m dpfe_tf.train --data_dir="$DATA" --image_size=109x89 --seed=0 --output_dir="$run" \
    --layer="$layer" --attributes="$attrs" --original_model="$OUT/original/original/model.keras" --noevaluate \
    --beta=auto --margin=auto --beta_candidates=0.1,0.3,1,3 --margin_candidates=1,2.236 --min_images=10
  python -m dpfe_tf.evaluate --model_dir="$run" --seeds=3
done
python -m dpfe_tf.report "$OUT"/*-auto
