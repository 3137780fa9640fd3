#!/usr/bin/env bash
# Second device command: the final kernels' checks, then in one run the crate's normalising and uint8
# cases for this source (a), the same with two vectors a thread in the normalising pass (u2) and commit
# 9fb9f7f (before), then ncu on the normalising kernels of (a). Tarred into $OUT/r2.tgz.
set -u
R=$OUT/r2
mkdir -p "$R"
export PYTHON=python3
pack() { tar -czf "$OUT/r2.tgz" -C "$OUT" r2 2>/dev/null; }
T0=$(date +%s)
OUT=$R/check KIT_DEADLINE_S=70 bash bench/gpu_check.sh >"$R/check.out" 2>&1
echo "check rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
(
  export TCH_MIXCUT_POISON=0 TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
  OUT=$R/bench KIT_DEADLINE_S=120
  source bench/kit.sh
  environment
  step "a: normalising and uint8 cases" 30 bench_a.log gpu-carry/gpu --bench 'normalize|/u8/'
  step "before (9fb9f7f): the same" 30 bench_before.log gpu-carry/before/gpu --bench 'normalize|/u8/'
  step "u2: normalising cases" 20 bench_u2.log gpu-carry/u2/gpu --bench normalize
  step "a again: normalising cases" 20 bench_a2.log gpu-carry/gpu --bench normalize
  finish
) >"$R/bench.out" 2>&1
echo "bench rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
(
  export TCH_MIXCUT_POISON=0 TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
  OUT=$R/profile KIT_DEADLINE_S=40
  source bench/kit.sh
  if [ "$GPU" = yes ]; then
    step "ncu: the normalising kernels" 30 ncu.log env GPU_PROFILE=1 ncu --kernel-name regex:'^mixnorm' --section SpeedOfLight \
      --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --section WarpStateStats \
      --section ComputeWorkloadAnalysis --section InstructionStats gpu-carry/gpu --bench
  else
    skip "ncu" "no GPU"
  fi
  finish
) >"$R/profile.out" 2>&1
echo "profile rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
