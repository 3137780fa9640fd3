#!/usr/bin/env bash
# Runs the committed comparison (examples/results/resnet, examples/results/vit): both models under
# none / mixup / cutmix / both, same seed, data and budget (20,000 images, 8 epochs: the committed run's),
# with the raw log and a description of the machine kept beside the report. The numbers match the
# committed ones only on the same kind of CPU: libtorch picks its convolution kernels by instruction set.
set -euo pipefail
cd "$(dirname "$0")/.."
# The mix family at the same budget: MODELS=vit RECIPES=cutmix,resizemix,fmix,transmix SUFFIX=-family
# (transmix needs the ViT).
EPOCHS=${EPOCHS:-8}
SUBSET=${SUBSET:-20000}
MODELS=${MODELS:-resnet vit}
SUFFIX=${SUFFIX:-}
recipes=(--compare)
[ -n "${RECIPES:-}" ] && recipes=(--recipes "$RECIPES")
cargo build --release --examples
for model in $MODELS; do
  out=examples/results/$model$SUFFIX
  mkdir -p "$out"
  { date -u; uname -srm; nproc; grep -m1 "model name" /proc/cpuinfo; free -g | sed -n 2p; } >"$out/machine.txt"
  "${CARGO_TARGET_DIR:-target}/release/examples/train_$model" "${recipes[@]}" --epochs "$EPOCHS" --train-subset "$SUBSET" --out "$out" 2>&1 | tee "$out/run.log"
done
