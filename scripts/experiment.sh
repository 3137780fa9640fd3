#!/usr/bin/env bash
# The calibration experiment (examples/results/resnet-calibration/): the examples' ResNet-8 (width 16)
# on Fashion-MNIST's 55,000 first training images (the last 5,000 held out to fit a temperature on),
# pad-4 random crop + horizontal flip for every recipe, 30 epochs, batch 128, AdamW with warm-up and
# cosine decay; recipes none / mixup / cutmix / both / both-off, seeds 0 then 1. Each (recipe, seed)
# run writes runs/<recipe>-seed<k>/result.json when it ends and the report is rewritten after each.
#
# The defaults reproduce the committed run; override them from the environment, e.g. a dry run:
#   EPOCHS=2 SUBSET=2000 HOLDOUT=500 OUT=runs/dry bash scripts/experiment.sh
# Extra arguments go to the binary (e.g. --resume to keep the runs already written to OUT); run.log and
# machine.txt are appended to, so a resumed run keeps the description of every machine it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-30}
SUBSET=${SUBSET:-0}
HOLDOUT=${HOLDOUT:-5000}
SEEDS=${SEEDS:-0,1}
RECIPES=${RECIPES:-none,mixup,cutmix,both,both-off}
OUT=${OUT:-examples/results/resnet-calibration}
cargo build --release --example train_resnet
mkdir -p "$OUT"
{ date -u; uname -srm; nproc; grep -m1 "model name" /proc/cpuinfo; free -g; } >>"$OUT/machine.txt"
./target/release/examples/train_resnet --recipes "$RECIPES" --seeds "$SEEDS" --holdout "$HOLDOUT" --augment \
  --epochs "$EPOCHS" --train-subset "$SUBSET" --eval-every 5 --out "$OUT" "$@" 2>&1 | tee -a "$OUT/run.log"
