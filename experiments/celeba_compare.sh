#!/usr/bin/env bash
# Issue 14: every defence on the CelebA subset, conv7, G, 3 seeds, each defence's weight (and DPFE's
# margin) chosen on the validation identities, all evaluated on the same test probes with every
# attacker (the original MOON of experiments/celeba_attacks.sh is reused).
# Usage: bash experiments/celeba_compare.sh [DATA_DIR] [OUT_DIR] [ORIGINAL_RUN]     (about 2.5 hours on 2 cores)
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-compare}
ORIGINAL=${3:-runs/celeba-subset}/original/model.keras
python -m dpfe_tf.compare --data_dir="$DATA" --output_dir="$OUT" --original_model="$ORIGINAL" --layer=conv7 \
  --attributes=G --defences=simple,dpfe,adversarial,nopeek --beta=auto --margin=auto --seeds=3 \
  --reconstruction_noise=
python bench/train_step_throughput.py --layer=conv7 --image_size=109x89 --batch_size=64
