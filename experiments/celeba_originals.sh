#!/usr/bin/env bash
# How far the CelebA headline moves from one training to the next: conv7, G, the default y-remover,
# 3 seeds, each seed with its own original MOON, Simple and DPFE (--seeds_retrain=original), every
# feature attacker; the evaluation prints each seed's own figures and the t interval across them
# beside the bootstrap's. Seed 0 is the run's own training (reused if already there).
# Usage: bash experiments/celeba_originals.sh [DATA_DIR] [OUT_DIR]   (49 min on 2 fast cores, about 2 h on slow ones)
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
python -m dpfe_tf.train --data_dir="$DATA" --output_dir="$OUT" --epochs_original=15 --layer=conv7 --attributes=G \
  --noevaluate
python -m dpfe_tf.evaluate --model_dir="$OUT/conv7-G" --seeds=3 --seeds_retrain=original --attackers=feature \
  --output_dir="$OUT/conv7-G/originals"
