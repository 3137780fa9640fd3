#!/usr/bin/env bash
# The GPU kit's profile command (one device command, under 4 minutes): ncu's speed of light, occupancy,
# launch statistics, memory workload and warp states for each fused kernel the bench times (the bench
# binary with GPU_PROFILE=1 launches each twice; ncu reads them all, the second of each pair is the warm
# one): the kernels' own time, achieved occupancy and DRAM throughput, for a target the bench misses.
# Logs under $OUT. Build the carried binaries first with scripts/gpu_carry.sh; see bench/README.md.
set -u
cd "$(dirname "$0")/.."
source bench/kit.sh
export TCH_MIXCUT_POISON=0
need_binaries gpu
environment

sections=(--section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis
  --section WarpStateStats)
if [ "$GPU" = yes ] && command -v ncu >/dev/null 2>&1; then
  step "ncu: the fused kernels" 200 ncu.log env GPU_PROFILE=1 ncu --kernel-name regex:'^mix' "${sections[@]}" \
    "$BIN/gpu" --bench
else
  skip "ncu: the fused kernels" "$([ "$GPU" = yes ] && echo "ncu not found" || echo "no GPU")"
  # The profiled program alone: here it only starts, finds no GPU and says so (exit 0), which checks
  # the script and the carried binary, not the profile mode's cases.
  step "profile mode of the bench (no ncu)" 60 profile.log env GPU_PROFILE=1 TCH_MIXCUT_REQUIRE_GPU=0 "$BIN/gpu" --bench
fi
finish
