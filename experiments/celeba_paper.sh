#!/usr/bin/env bash
# Issue 15: the paper's Section 6.2 experiments on the CelebA subset with the default y-remover,
# 3 seeds, every attacker but the reconstruction one, intervals and verdicts:
#   (2) layers conv4_2, conv5_1, conv6_1, conv7 on G;   (3) attribute sets G, GA, GAS, GASL, GASLN at conv7;
# then the accuracy-privacy-complexity table (Section 6.4): per layer, accuracy and worst-case privacy
# at noise 0 beside the int8 extractor's host latency and size.
# Usage: bash experiments/celeba_paper.sh [DATA_DIR] [OUT_DIR]      (about 3 hours on 2 CPU cores)
set -euo pipefail
DATA=${1:-../shared/data/celeba-subset}
OUT=${2:-runs/celeba-subset}
EVAL=(--seeds=3 --attackers=all --reconstruction_noise=)
train() { python -m dpfe_tf.train --data_dir="$DATA" --output_dir="$OUT" --epochs_original=15 --noevaluate "$@"; }
for layer in conv4_2 conv5_1 conv6_1 conv7; do
  train --layer=$layer --attributes=G
  [[ -f "$OUT/$layer-G/evaluation/evaluation.json" ]] || python -m dpfe_tf.evaluate --model_dir="$OUT/$layer-G" "${EVAL[@]}"
done
python -m dpfe_tf.evaluate --model_dir="$OUT"/conv4_2-G/dpfe --model_dir="$OUT"/conv5_1-G/dpfe \
  --model_dir="$OUT"/conv6_1-G/dpfe --model_dir="$OUT"/conv7-G/dpfe "${EVAL[@]}" --output_dir="$OUT/layers"
for set in GA GAS GASL GASLN; do
  train --layer=conv7 --attributes=$set
  [[ -f "$OUT/conv7-$set/evaluation/evaluation.json" ]] || python -m dpfe_tf.evaluate --model_dir="$OUT/conv7-$set" "${EVAL[@]}"
done
for layer in conv4_2 conv5_1 conv6_1 conv7; do
  python -m dpfe_tf.export --model_dir="$OUT/$layer-G" --forms=float32,int8 --notrunks
done
python experiments/layer_choice.py "$OUT"
python -m dpfe_tf.report "$OUT"
