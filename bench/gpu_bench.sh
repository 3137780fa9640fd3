#!/usr/bin/env bash
# The GPU kit's speed command (one device command, under 5 minutes): the crate's GPU criterion cases and
# the no-sync measurement (benches/gpu.rs), then timm's Mixup and torchvision's MixUp / CutMix on the
# same card in the same command (bench/peers.py). Logs under $OUT; bench/gpu_table.py turns them into
# the README's table. Build the carried binaries first with scripts/gpu_carry.sh; see bench/README.md.
set -u
cd "$(dirname "$0")/.."
source bench/kit.sh
export TCH_MIXCUT_POISON=0  # poisoned outputs would add a fill to every timed call
need_binaries gpu
environment

step "crate: criterion GPU cases, no-sync check" 150 bench_crate.log "$BIN/gpu" --bench
step "peers: timm, torchvision" 120 bench_peers.log "$PYTHON" bench/peers.py --device cuda
finish
