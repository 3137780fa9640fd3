#!/usr/bin/env bash
# Runs the committed comparison (examples/results/): both models under none / mixup / cutmix / both,
# same seed, data and budget, with the raw log and a description of the machine kept beside the report.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-10}
SUBSET=${SUBSET:-30000}
cargo build --release --examples
for model in resnet vit; do
  out=examples/results/$model
  mkdir -p "$out"
  { date -u; uname -srm; nproc; grep -m1 "model name" /proc/cpuinfo; free -g | sed -n 2p; } >"$out/machine.txt"
  ./target/release/examples/train_$model --compare --epochs "$EPOCHS" --train-subset "$SUBSET" --out "$out" 2>&1 | tee "$out/run.log"
done
