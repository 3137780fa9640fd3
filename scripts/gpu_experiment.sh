#!/usr/bin/env bash
# The calibration experiment (scripts/experiment.sh's settings: ResNet-8 width 16 on Fashion-MNIST's
# 55,000 first training images, 5,000 held out for the temperature, crop + flip, 30 epochs, batch 128) on a
# GPU machine, within one device command: one process trains the recipes one after the other, seed after
# seed, until $BUDGET_S seconds less the report's REPORT_S have passed; then the report over every seed
# whose recipes all finished, written by the binary's --report-only from the runs' result files.
#
# One process, not one per recipe at once: each run is bound by its host's launches, and processes
# sharing the GPU take turns. Measured on an H100 (bench/results/gpu-h100-2026-11-26/): one process,
# 23,000-26,000 images/s, a recipe's 30 epochs in 63-72 s; three at once, 2,650-2,750 images/s each;
# five at once under MPS, 1,580-1,650 each.
#
# Here: FULL_DATA=1 bash scripts/gpu_carry.sh (the binaries, all of Fashion-MNIST, the captions' font).
# There: PYTHON=<python with torch> OUT=<folder> SEEDS=0 bash scripts/gpu_experiment.sh
# A dry run anywhere: DEVICE=cpu EPOCHS=1 SUBSET=1000 HOLDOUT=200 (the defaults are the experiment's).
# Runs already in $OUT/runs (an earlier call's, copied there first) are kept (--resume) and reported with
# the new ones: e.g. SEEDS=0 in one command, then SEEDS=0,1 with the first's runs copied in.
# Writes $OUT/runs/<recipe>-seed<k>/, run.log, the report, the pictures and machine.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/carry.sh
OUT=${OUT:-bench/results/local/experiment}
SEEDS=${SEEDS:-0}
RECIPES=${RECIPES:-none,mixup,cutmix,both,both-off}
BUDGET=${BUDGET_S:-540}
REPORT_S=${REPORT_S:-30}
DEVICE=${DEVICE:-cuda:0}
EPOCHS=${EPOCHS:-30}
SUBSET=${SUBSET:-0}
HOLDOUT=${HOLDOUT:-5000}
# The libtorch the carried binary loads (PYTHON, TORCH_LIB, LD_LIBRARY_PATH).
source bench/torch_lib.sh
[ -f "$B/DejaVuSans.ttf" ] && export MIXCUT_FONT=$B/DejaVuSans.ttf
unpack_binaries train_resnet || exit 1
common=(--holdout "$HOLDOUT" --augment --epochs "$EPOCHS" --train-subset "$SUBSET" --eval-every 5
  --data "$B/fashion-mnist" --recipes "$RECIPES" --out "$OUT")
mkdir -p "$OUT"
{
  date -u
  nvidia-smi -L 2>/dev/null || echo "no GPU"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "recipes $RECIPES, seeds $SEEDS, one after the other in one process; ${BUDGET}s in all"
} >>"$OUT/machine.txt"
# A run cut by the time limit is lost (results are written when a run ends); the finished ones are kept.
train=$((BUDGET - REPORT_S))
timeout -k 5 "$train" "$BIN/train_resnet" --device "$DEVICE" --seeds "$SEEDS" --resume "${common[@]}" \
  >>"$OUT/run.log" 2>&1
rc=$?
echo "training: exit $rc$( [ "$rc" = 124 ] && echo " (stopped at ${train}s)") after $((SECONDS))s" |
  tee -a "$OUT/machine.txt"
# The report over the seeds whose every recipe has finished.
complete=()
for seed in ${SEEDS//,/ }; do
  all=1
  for recipe in ${RECIPES//,/ }; do [ -f "$OUT/runs/$recipe-seed$seed/result.json" ] || all=0; done
  [ "$all" = 1 ] && complete+=("$seed")
done
[ "${#complete[@]}" -gt 0 ] || { echo "gpu_experiment: no seed finished every recipe" | tee -a "$OUT/machine.txt" >&2; exit 1; }
seeds=$(IFS=,; echo "${complete[*]}")
timeout -k 5 "$REPORT_S" "$BIN/train_resnet" --report-only --seeds "$seeds" "${common[@]}" >"$OUT/report.log" 2>&1
rc=$?
echo "report over seeds $seeds: exit $rc" | tee -a "$OUT/machine.txt"
exit "$rc"
