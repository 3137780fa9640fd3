#!/usr/bin/env bash
# The calibration experiment (scripts/experiment.sh's settings: ResNet-8 width 16 on Fashion-MNIST's
# 55,000 first training images, 5,000 held out for the temperature, crop + flip, 30 epochs, batch 128) on a
# GPU machine, within one device command: one process per recipe, all at once on the one GPU (each run
# is far too small to fill it; through MPS where the driver has it), seed after seed while $BUDGET_S
# seconds last; then the report over every complete seed, written by the binary's --resume from the
# runs' result files (nothing is retrained).
#
# Here: FULL_DATA=1 bash scripts/gpu_carry.sh (the binaries, all of Fashion-MNIST, the captions' font).
# There: PYTHON=<python with torch> OUT=<folder> SEEDS=0 bash scripts/gpu_experiment.sh
# A dry run anywhere: DEVICE=cpu EPOCHS=1 SUBSET=1000 HOLDOUT=200 (the defaults are the experiment's).
# Runs already in $OUT/runs (an earlier call's, copied there first) are kept and reported with the new:
# e.g. RECIPES=none,mixup,cutmix in one command, then RECIPES=both,both-off in the next with the first's
# runs copied in (the report: all five, REPORT_RECIPES).
# Writes $OUT/runs/<recipe>-seed<k>/, $OUT/logs/<recipe>-seed<k>.log, the report, the pictures and
# machine.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${CARRY:-gpu-carry}
OUT=${OUT:-bench/results/local/experiment}
SEEDS=${SEEDS:-0}
RECIPES=${RECIPES:-none,mixup,cutmix,both,both-off}
REPORT_RECIPES=${REPORT_RECIPES:-none,mixup,cutmix,both,both-off}
BUDGET=${BUDGET_S:-540}
DEVICE=${DEVICE:-cuda:0}
EPOCHS=${EPOCHS:-30}
SUBSET=${SUBSET:-0}
HOLDOUT=${HOLDOUT:-5000}
PYTHON=${PYTHON:-python3}
# Its torch/lib is the libtorch the carried binary loads; without one, the checkout's own libtorch/.
TORCH_LIB=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null) ||
  TORCH_LIB=$(pwd)/libtorch/lib
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ -f "$B/DejaVuSans.ttf" ] && export MIXCUT_FONT=$B/DejaVuSans.ttf
[ -x "$B/train_resnet" ] || { echo "gpu_experiment: $B/train_resnet missing (scripts/gpu_carry.sh)" >&2; exit 1; }
common=(--device "$DEVICE" --holdout "$HOLDOUT" --augment --epochs "$EPOCHS" --train-subset "$SUBSET" --eval-every 5
  --data "$B/fashion-mnist")
mkdir -p "$OUT/logs" "$OUT/runs"
start=$(date +%s) # the budget counts from here
# MPS, where the driver ships its control daemon (MPS=0 turns it off): the recipes' processes then run on
# the GPU at once instead of taking turns in time slices. Started here, probed with one CUDA op (a client
# without a daemon silently runs without MPS, so the probe must leave an MPS server behind), stopped on
# exit; otherwise the runs share the GPU by time slicing as before.
mps=off
if [ "${MPS:-1}" = 1 ] && [[ "$DEVICE" == cuda* ]] && command -v nvidia-cuda-mps-control >/dev/null 2>&1; then
  CUDA_MPS_PIPE_DIRECTORY=$(mktemp -d) && CUDA_MPS_LOG_DIRECTORY=$(cd "$OUT" && pwd)/mps-log
  export CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  mkdir -p "$CUDA_MPS_LOG_DIRECTORY"
  if timeout 20 nvidia-cuda-mps-control -d &&
    timeout 60 "$PYTHON" -c "import torch; torch.ones(1, device='cuda').sum().item()" >/dev/null 2>&1 &&
    [ -n "$(echo get_server_list | timeout 20 nvidia-cuda-mps-control 2>/dev/null | grep -E '^[0-9]+$')" ]; then
    mps=on
    trap 'echo quit | timeout 20 nvidia-cuda-mps-control; rm -rf "$CUDA_MPS_PIPE_DIRECTORY"' EXIT
  else
    echo quit | timeout 20 nvidia-cuda-mps-control >/dev/null 2>&1
    rm -rf "$CUDA_MPS_PIPE_DIRECTORY"
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  fi
fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"
  echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "runs: recipes $RECIPES (one process each, in parallel; MPS $mps), seeds $SEEDS in turn; ${BUDGET}s in all"
} >>"$OUT/machine.txt"
# One seed at a time (its recipes in parallel), started only when the time left (less the report's
# REPORT_S) is enough for a seed at the expected pace: SEED_S seconds for the first (default 0: start it),
# then the last seed's time. Once every run of a seed has finished its first epoch, the seed's time is
# projected from that pace (the first epoch also pays the start-up, so the projection errs long); a seed
# that cannot end within the time left is stopped then, not at the limit (a seed cut short is lost; the
# finished ones are kept).
SEED_S=${SEED_S:-0}
REPORT_S=${REPORT_S:-60}
need=$SEED_S
stopped=0
for seed in ${SEEDS//,/ }; do
  left=$((BUDGET - REPORT_S - ($(date +%s) - start)))
  if [ "$left" -lt "$need" ]; then
    echo "seed $seed not started: ${left}s left, a seed is expected to take ${need}s (SEED_S, or the last seed's)" |
      tee -a "$OUT/machine.txt"
    break
  fi
  seed_start=$(date +%s)
  pids=()
  for recipe in ${RECIPES//,/ }; do
    log="$OUT/logs/$recipe-seed$seed.log"
    echo "\$ $B/train_resnet ${common[*]} --recipes $recipe --seeds $seed --out $OUT/parts/$recipe-seed$seed" >"$log"
    timeout -k 5 "$left" "$B/train_resnet" "${common[@]}" --recipes "$recipe" --seeds "$seed" \
      --out "$OUT/parts/$recipe-seed$seed" >>"$log" 2>&1 &
    pids+=("$recipe:$!")
  done
  while :; do
    sleep 2
    alive=0
    for entry in "${pids[@]}"; do kill -0 "${entry#*:}" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    first_done=0
    for entry in "${pids[@]}"; do
      grep -q " epoch 1/$EPOCHS " "$OUT/logs/${entry%%:*}-seed$seed.log" && first_done=$((first_done + 1))
    done
    [ "$first_done" = "${#pids[@]}" ] || continue
    first=$(($(date +%s) - seed_start))
    projected=$((first * EPOCHS * 11 / 10))
    if [ "$projected" -gt "$left" ]; then
      echo "seed $seed stopped after its first epoch (${first}s): projected ${projected}s, ${left}s left" |
        tee -a "$OUT/machine.txt"
      for entry in "${pids[@]}"; do kill "${entry#*:}" 2>/dev/null; done
      stopped=1
    fi
    break
  done
  for entry in "${pids[@]}"; do
    wait "${entry#*:}"
    rc=$?
    [ "$rc" = 0 ] || echo "${entry%%:*} seed $seed: exit $rc$( [ "$rc" = 124 ] && echo " (cut at ${left}s)")" |
      tee -a "$OUT/machine.txt"
  done
  [ "$stopped" = 1 ] && break
  need=$(($(date +%s) - seed_start))
  echo "seed $seed: its runs ended after ${need}s" | tee -a "$OUT/machine.txt"
  need=$((need * 23 / 20))
done
for part in "$OUT"/parts/*; do
  [ -d "$part/runs" ] && cp -r "$part"/runs/* "$OUT/runs/"
  cp "$part"/batch_*.png "$OUT/" 2>/dev/null
done
rm -rf "$OUT/parts"
# The report over the seeds whose every recipe of $REPORT_RECIPES has finished.
complete=()
for seed in $(ls "$OUT/runs" | sed -n 's/.*-seed\([0-9]*\)$/\1/p' | sort -un); do
  all=1
  for recipe in ${REPORT_RECIPES//,/ }; do [ -f "$OUT/runs/$recipe-seed$seed/result.json" ] || all=0; done
  [ "$all" = 1 ] && complete+=("$seed")
done
[ "${#complete[@]}" -gt 0 ] || { echo "gpu_experiment: no seed finished every recipe" >&2; exit 1; }
seeds=$(IFS=,; echo "${complete[*]}")
timeout -k 5 "$REPORT_S" "$B/train_resnet" "${common[@]}" --recipes "$REPORT_RECIPES" --seeds "$seeds" --resume \
  --out "$OUT" >"$OUT/logs/report.log" 2>&1
rc=$?
echo "report over seeds $seeds: exit $rc" | tee -a "$OUT/machine.txt"
exit "$rc"
