#!/usr/bin/env bash
# On a lent GPU machine (shared/gpu/README.md): runs the carried GPU tests, compute-sanitizer (memcheck,
# racecheck) on them, the criterion benches and the Python peers (timm, torchvision) on the same card,
# writing full logs under $OUT and a short summary last. Build the binaries here first:
# `bash scripts/gpu_carry.sh`, then run this with carry ["gpu-carry"].
set -u
OUT=${OUT:-bench/results/local}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/torch/lib:${LD_LIBRARY_PATH:-}
PY=/opt/torch/.venv/bin/python3
B=gpu-carry

{
  date -u; nvidia-smi; nvcc --version 2>/dev/null | tail -2
  echo "== missing libraries / symbols"; ldd "$B/fused_cuda" | grep -i "not found" || echo none
} >"$OUT/env.log" 2>&1

status() { echo "$1: exit $2" >>"$OUT/summary.txt"; }
: >"$OUT/summary.txt"

"$B/fused_cuda" --nocapture --test-threads=1 >"$OUT/tests.log" 2>&1; status "fused_cuda tests" $?
"$B/fused_cpu" >>"$OUT/tests.log" 2>&1; status "fused_cpu tests" $?

compute-sanitizer --tool memcheck --leak-check no --error-exitcode 3 "$B/fused_cuda" --test-threads=1 \
  >"$OUT/memcheck.log" 2>&1; status "compute-sanitizer memcheck" $?
compute-sanitizer --tool racecheck --error-exitcode 3 "$B/fused_cuda" --test-threads=1 \
  fused_cuda_hand_plans_large_batches_misaligned launches_are_ordered >"$OUT/racecheck.log" 2>&1
status "compute-sanitizer racecheck" $?

"$B/mix" --bench 'cuda/' >"$OUT/bench.log" 2>&1; status "criterion (cuda)" $?
"$PY" bench/peers.py >"$OUT/peers.log" 2>&1; status "peers (timm, torchvision)" $?

{
  echo; echo "== fused vs reference (criterion medians)"
  grep -E "^cuda/|time:" "$OUT/bench.log" | paste - - | awk '{print $1, $(NF-3), $(NF-2)}'
  echo; echo "== peers"; cat "$OUT/peers.log"
} >>"$OUT/summary.txt"
cat "$OUT/summary.txt"
