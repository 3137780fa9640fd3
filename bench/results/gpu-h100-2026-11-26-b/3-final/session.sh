#!/usr/bin/env bash
# Third device command, the final source's binaries: checks; the crate's whole GPU bench, then commit
# 9fb9f7f's normalising and uint8 cases in the same run; ncu on the normalising kernels. $OUT/r3.tgz.
set -u
R=$OUT/r3
mkdir -p "$R"
export PYTHON=python3
pack() { tar -czf "$OUT/r3.tgz" -C "$OUT" r3 2>/dev/null; }
T0=$(date +%s)
OUT=$R/check KIT_DEADLINE_S=60 bash bench/gpu_check.sh >"$R/check.out" 2>&1
echo "check rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
(
  export TCH_MIXCUT_POISON=0 TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
  OUT=$R/bench KIT_DEADLINE_S=100
  source bench/kit.sh
  environment
  step "crate: criterion GPU cases, no-sync check" 65 bench_crate.log gpu-carry/gpu --bench
  step "before (9fb9f7f): normalising and uint8 cases" 25 bench_before.log gpu-carry/before/gpu --bench 'normalize|/u8/'
  finish
) >"$R/bench.out" 2>&1
echo "bench rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
(
  export TCH_MIXCUT_POISON=0 TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
  OUT=$R/profile KIT_DEADLINE_S=30
  source bench/kit.sh
  if [ "$GPU" = yes ]; then
    step "ncu: the normalising kernels" 20 ncu.log env GPU_PROFILE=1 ncu --kernel-name regex:'^mixnorm' --section SpeedOfLight \
      --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --section WarpStateStats \
      --section ComputeWorkloadAnalysis --section InstructionStats gpu-carry/gpu --bench
  else
    skip "ncu" "no GPU"
  fi
  finish
) >"$R/profile.out" 2>&1
echo "profile rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
