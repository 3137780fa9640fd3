#!/usr/bin/env bash
# The GPU kit's correctness command (one device command, under 5 minutes): environment, the CUDA
# equivalence tests with poisoned outputs, compute-sanitizer memcheck over a subset of them (all of them:
# bench/gpu_memcheck.sh), and the training example on CUDA for 300 steps (3 epochs of 12,800 images). Logs under $OUT (default bench/results/local).
# Build the carried binaries first with scripts/gpu_carry.sh; see bench/README.md.
set -u
cd "$(dirname "$0")/.."
source bench/kit.sh
# Release test binaries poison fresh outputs only when asked to (never in the bench: it would time the fill).
export TCH_MIXCUT_POISON=1
need_binaries fused_cuda train_resnet
environment

step "CUDA equivalence and behaviour tests" 120 tests_cuda.log "$BIN/fused_cuda" --nocapture

# A representative subset here (under a minute); bench/gpu_memcheck.sh runs every CUDA test under it.
memcheck "compute-sanitizer memcheck (subset)" 100 memcheck.log \
  hand_plans out_of_range label_errors_belong segmentation normalising

data=$B/fashion-mnist
if [ "$GPU" = yes ]; then
  step "train_resnet on CUDA, 300 steps" 60 train.log "$BIN/train_resnet" --device cuda:0 --recipe both \
    --epochs 3 --train-subset 12800 --batch-size 128 --data "$data" --out "$OUT/train"
else
  skip "train_resnet on CUDA" "no GPU"
  # The same command line on the CPU with a tiny budget, so a typo shows here and not on the GPU.
  step "train_resnet command (CPU, 4 steps)" 60 train.log "$BIN/train_resnet" --device cpu --recipe both \
    --epochs 1 --train-subset 512 --batch-size 128 --data "$data" --out "$OUT/train"
fi
finish
