#!/usr/bin/env bash
# Runs TFLite's benchmark_model on an Android phone over adb for each exported model, saves each
# output as RESULTS/<model>.txt, then prints the per-model table and the paper's Figure 11 table.
#
#   tflite/run_on_android.sh --benchmark_model=bazel-bin/tensorflow/lite/tools/benchmark/benchmark_model \
#       [--serial=SERIAL] [--threads=1] [--warmup=10] [--runs=50] [--cpu_mask=f0] [--results=tflite/results] \
#       runs/dpfe/dpfe/tflite/*.tflite
#
# --cpu_mask pins the run to cores with taskset (hex mask; f0 = the big cores of many 4+4 SoCs).
# Build benchmark_model for android_arm64 as described in tflite/README.md.
set -euo pipefail
BIN="" SERIAL="" THREADS=1 WARMUP=10 RUNS=50 MASK="" RESULTS="tflite/results" REMOTE=/data/local/tmp/dpfe
models=()
for arg in "$@"; do
  case "$arg" in
    --benchmark_model=*) BIN="${arg#*=}" ;;
    --serial=*) SERIAL="${arg#*=}" ;;
    --threads=*) THREADS="${arg#*=}" ;;
    --warmup=*) WARMUP="${arg#*=}" ;;
    --runs=*) RUNS="${arg#*=}" ;;
    --cpu_mask=*) MASK="${arg#*=}" ;;
    --results=*) RESULTS="${arg#*=}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) models+=("$arg") ;;
  esac
done
[ -n "$BIN" ] && [ -f "$BIN" ] || { echo "--benchmark_model=PATH to an android_arm64 benchmark_model binary is required" >&2; exit 2; }
[ ${#models[@]} -gt 0 ] || { echo "name one or more .tflite files" >&2; exit 2; }
command -v adb >/dev/null || { echo "adb not found (Android platform-tools)" >&2; exit 2; }
ADB=(adb); [ -n "$SERIAL" ] && ADB+=(-s "$SERIAL")
"${ADB[@]}" get-state >/dev/null || { echo "no device: check 'adb devices'" >&2; exit 2; }
"${ADB[@]}" shell mkdir -p "$REMOTE"
"${ADB[@]}" push "$BIN" "$REMOTE/benchmark_model" >/dev/null
"${ADB[@]}" shell chmod +x "$REMOTE/benchmark_model"
PIN=""; [ -n "$MASK" ] && PIN="taskset $MASK"
mkdir -p "$RESULTS"
for m in "${models[@]}"; do
  name=$(basename "$m" .tflite)
  "${ADB[@]}" push "$m" "$REMOTE/$name.tflite" >/dev/null
  echo "benchmarking $name on the device ..." >&2
  "${ADB[@]}" shell "$PIN $REMOTE/benchmark_model --graph=$REMOTE/$name.tflite --num_threads=$THREADS \
      --warmup_runs=$WARMUP --num_runs=$RUNS --report_peak_memory_footprint=true" > "$RESULTS/$name.txt" 2>&1 \
    || echo "benchmark_model failed for $name (see $RESULTS/$name.txt)" >&2
  "${ADB[@]}" shell rm -f "$REMOTE/$name.tflite"
done
python -m dpfe_tf.mobile.parse_android "$RESULTS"
