#!/usr/bin/env bash
# One device command: checks, the crate's GPU bench (this commit and the previous one's normalising
# pass in the same run), ncu on the normalising kernels, then the experiment's seed 1 with whatever
# time is left. Everything under $OUT/r, tarred into $OUT/r.tgz at the end (and after each step).
set -u
T0=$(date +%s)
LIMIT=${LIMIT:-570}
R=$OUT/r
mkdir -p "$R"
export PYTHON=python3
pack() { tar -czf "$OUT/r.tgz" -C "$OUT" r 2>/dev/null; }
left() { echo $((LIMIT - ($(date +%s) - T0))); }
echo "start $(date -u)" >"$R/session.txt"
OUT=$R/check KIT_DEADLINE_S=100 bash bench/gpu_check.sh >"$R/check.out" 2>&1
echo "check rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
# The crate bench alone (the peers are unchanged since the last run's table).
(
  export TCH_MIXCUT_POISON=0 TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
  source bench/kit.sh >/dev/null 2>&1 || true
  OUT=$R/bench; mkdir -p "$OUT"; : >"$OUT/summary.txt"
  KIT_START=$(date +%s); DEADLINE=140
  environment
  step "crate: criterion GPU cases, no-sync check" 75 bench_crate.log gpu-carry/gpu --bench
  step "before (9fb9f7f): normalising cases" 30 bench_before_normalize.log gpu-carry/before/gpu --bench normalize
  finish
) >"$R/bench.out" 2>&1
echo "bench rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
OUT=$R/profile KIT_DEADLINE_S=45 bash bench/gpu_profile.sh >"$R/profile.out" 2>&1
echo "profile rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
# The experiment's seed 1 beside seed 0's runs (kept by --resume), in the time left.
mkdir -p "$R/experiment" && cp -r examples/results/resnet-calibration/runs "$R/experiment/"
B=$(( $(left) - 10 ))
echo "experiment budget ${B}s" >>"$R/session.txt"
OUT=$R/experiment SEEDS=0,1 BUDGET_S=$B REPORT_S=25 bash scripts/gpu_experiment.sh >"$R/experiment.out" 2>&1
echo "experiment rc=$? at $(( $(date +%s) - T0 ))s" >>"$R/session.txt"; pack
