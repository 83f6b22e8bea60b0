#!/usr/bin/env bash
# Noise the predictor does not read (--noise_shape=predictor) against the paper's isotropic noise,
# for one variant's Simple and DPFE (3 seeds unless SEEDS says, the feature attackers, worst case):
#   1. on the 20 validation people: the curves under predictor-shaped noise;
#   2. the operating noise chosen there, never on the test people: the largest r of the grid at
#      which DPFE's validation accuracy stays within 1 point of Simple's at noise 0 (with FOLDS=k
#      set: on k folds of the training people instead, python -m dpfe_tf.operating_point --folds=k);
#   3. on the test people: the curves, and DPFE at that r against Simple at noise 0 (paired
#      intervals, --operating_noise);
#   4. the table and one figure beside the variant's isotropic evaluation (<variant>/attacks, if any).
# Usage: [FOLDS=3] [SEEDS=3] bash experiments/celeba_noise_shapes.sh runs/celeba-subset/conv7-G [OUT_DIR] [DEFENCE]
# (DEFENCE: the variant's defended model to set against Simple, dpfe unless named; SEEDS: how many
# training seeds, the missing ones trained by the evaluation from the variant's recipe.)
# (about 25 minutes for 3 seeds on 2 fast CPU cores, three times that on slow ones; the models are
# the variant's, trained before.)
set -euo pipefail
V=${1:?name a variant folder, e.g. runs/celeba-subset/conv7-G}
NAME=$(basename "$V")
OUT=${2:-runs/celeba-shaped/$NAME}
DEFENCE=${3:-dpfe}
GRID=0,0.5,1,2,4,8,16
COMMON=(--model_dir="$V"/simple --model_dir="$V/$DEFENCE" --seeds=${SEEDS:-3} --noise_shape=predictor --noise=$GRID --reconstruction_noise=)
python -m dpfe_tf.evaluate "${COMMON[@]}" --split=val --attackers=lda --output_dir="$OUT/val"
if [[ ${FOLDS:-0} -gt 0 ]]; then  # on folds of the training people, each fold's models trained on the others
  python -m dpfe_tf.operating_point --model_dir="$V/$DEFENCE" --folds="$FOLDS" --noise=$GRID \
      --output_dir="$OUT/operating_point"
  R=$(python -c 'import json, sys; r = json.load(open(sys.argv[1]))["noise"]; print("none" if r is None else f"{r:g}")' \
      "$OUT/operating_point/operating_point.json")
else  # on the validation people, their accuracy pooled over the 3 seeds' models
  R=$(python - "$OUT/val/evaluation.json" "$DEFENCE" <<'PY'
import json, sys
from dpfe_tf.training.operating_point import choose
ev = json.load(open(sys.argv[1]))
acc = {c["name"]: {p["r"]: p["accuracy"] for p in c["points"]} for c in ev["curves"]}
r, _ = choose(acc["simple"][0.0], acc[sys.argv[2]], tolerance=0.01)
print("none" if r is None else f"{r:g}")
PY
)
fi
echo "operating noise chosen on $([[ ${FOLDS:-0} -gt 0 ]] && echo "$FOLDS folds of the training people" || echo "the validation people"): $R"
OP=()
[[ $R != none ]] && OP=(--operating_noise="$R")
python -m dpfe_tf.evaluate "${COMMON[@]}" --attackers=feature "${OP[@]}" --output_dir="$OUT/test"
ISO=()   # the variant's isotropic evaluation, when it has one
[[ -f "$V/attacks/evaluation.json" ]] && ISO=("$V/attacks/evaluation.json")
python experiments/noise_shapes.py "${ISO[@]}" "$OUT/val/evaluation.json" "$OUT/test/evaluation.json" \
    --models=simple,"$DEFENCE" --plot="$OUT/noise_shapes.png"
