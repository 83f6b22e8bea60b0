#!/usr/bin/env bash
# Issue 15: the paper's Section 6.2 experiments on the CelebA subset with the default y-remover,
# 3 seeds, the gallery-feature attackers (kde, lda, tuned classifier: the worst case in every
# measured row; the face-recogniser linkage is 0.2 weaker and needs dlib), intervals and verdicts:
#   layers:  conv4_2, conv5_1, conv6_1, conv7 on G, each against its Simple, then the four DPFE
#            extractors in one evaluation (one plot, pairwise Acc-Priv verdicts) and the
#            accuracy-privacy-complexity table (Section 6.4: int8 size and host latency beside);
#   sets:    attribute sets G, GA, GAS, GASL, GASLN at conv7.
# Usage: bash experiments/celeba_paper.sh [layers|sets|all] [DATA_DIR] [OUT_DIR]
#   (layers about 1.5 h, sets about 2 h on 2 CPU cores; trained stages are reused)
set -euo pipefail
WHAT=${1:-all}
DATA=${2:-../shared/data/celeba-subset}
OUT=${3:-runs/celeba-subset}
EVAL=(--seeds=3 --attackers=feature --reconstruction_noise=)
variant() {  # layer, attribute set: train (reusing what is trained) and evaluate against Simple
  python -m dpfe_tf.train --data_dir="$DATA" --output_dir="$OUT" --epochs_original=15 --layer="$1" \
    --attributes="$2" --noevaluate
  [[ -f "$OUT/$1-$2/attacks/evaluation.json" ]] || python -m dpfe_tf.evaluate --model_dir="$OUT/$1-$2" "${EVAL[@]}" \
    --output_dir="$OUT/$1-$2/attacks"
}
if [[ $WHAT == layers || $WHAT == all ]]; then
  for layer in conv4_2 conv5_1 conv6_1 conv7; do
    variant $layer G
    python -m dpfe_tf.export --model_dir="$OUT/$layer-G" --forms=float32,int8 --notrunks
  done
  python -m dpfe_tf.evaluate --model_dir="$OUT"/conv4_2-G/dpfe --model_dir="$OUT"/conv5_1-G/dpfe \
    --model_dir="$OUT"/conv6_1-G/dpfe --model_dir="$OUT"/conv7-G/dpfe "${EVAL[@]}" --output_dir="$OUT/layers"
  python experiments/layer_choice.py "$OUT"
fi
if [[ $WHAT == sets || $WHAT == all ]]; then
  for set in G GA GAS GASL GASLN; do variant conv7 $set; done
fi
python -m dpfe_tf.report "$OUT"
