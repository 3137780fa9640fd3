#!/usr/bin/env bash
# The training binary's pace on a GPU, one process at a time, under variations of the calibration
# experiment's settings (one epoch of 12,800 Fashion-MNIST images, 100 steps of 128): what bounds a step
# (augmentation, mixing, step size, host threads), for sizing scripts/gpu_experiment.sh's budget. Each
# run's log ends with its epoch line ("... images/s"); pace.txt collects them, gpu_util.txt samples the
# GPU's utilisation every second. Logs under $OUT. Build the carry first (FULL_DATA=1 bash
# scripts/gpu_carry.sh); see bench/README.md.
set -u
cd "$(dirname "$0")/.."
source bench/kit.sh
need_binaries train_resnet
environment
[ -f "$B/fashion-mnist/train-images-idx3-ubyte.gz" ] || { echo "no Fashion-MNIST in $B" >&2; exit 2; }
if [ "$GPU" = yes ]; then
  device=cuda:0
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 >"$OUT/gpu_util.txt" 2>&1 &
  sampler=$!
else
  # The same command lines on the CPU, so a typo shows here and not on the GPU.
  skip "pace on the GPU" "no GPU"
  [ "$TCH_MIXCUT_REQUIRE_GPU" = 1 ] && { finish; exit 1; }
  device=cpu
fi
base=(--device "$device" --holdout 5000 --epochs 1 --eval-every 5 --data "$B/fashion-mnist" --seeds 0)
steps=${PACE_STEPS:-100}
run() { # NAME BATCH ARGS...: one epoch of $steps steps of BATCH images
  local name=$1 batch=$2
  shift 2
  step "pace: $name" 60 "pace_$name.log" "$BIN/train_resnet" "${base[@]}" --batch-size "$batch" \
    --train-subset $((steps * batch)) --out "$OUT/runs/$name" "$@"
}
run experiment 128 --augment --recipes both
run no_augment 128 --recipes both
run no_mixing 128 --augment --recipes none
run batch_512 512 --augment --recipes both
OMP_NUM_THREADS=1 run one_host_thread 128 --augment --recipes both
[ -n "${sampler:-}" ] && kill "$sampler"
for log in "$OUT"/pace_*.log; do
  echo "$(basename "$log" .log): $(grep -a -o 'epoch 1/1 .*images/s' "$log" | tail -1)"
done | tee "$OUT/pace.txt"
finish
