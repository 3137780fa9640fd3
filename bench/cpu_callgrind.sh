#!/usr/bin/env bash
# Instruction counts of the fused CPU executor, which unlike timings repeat exactly on a shared machine:
# per dtype, 10 in-place calls each of Mixup and of CutMix with a one-pixel, 10% and 50% box at
# 256x3x112x112 on one thread (benches/mix.rs with MIX_PROFILE), under valgrind's callgrind. Valgrind runs
# no AVX-512, so the x86-64-v3 build runs (TCH_MIXCUT_CPU_ISA=v3). About 2 minutes a dtype. Output:
# $OUT/callgrind.log (default bench/results/cpu-<UTC date>/); DTYPES picks the dtypes (default f32 bf16 u8).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/cpu-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
bin=$(cargo bench --bench mix --no-run 2>&1 | sed -n 's/.*Executable benches\/mix.rs (\(.*\))/\1/p' | tail -1)
log="$OUT/callgrind.log"
echo "# $(date -u); $(valgrind --version); TCH_MIXCUT_CPU_ISA=v3, one thread; instructions per call (inclusive)" >"$log"
for dtype in ${DTYPES:-f32 bf16 u8}; do
  out=$(mktemp)
  TCH_MIXCUT_CPU_ISA=v3 MIX_PROFILE=$dtype valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1
  callgrind_annotate --inclusive=yes --threshold=100 "$out" | grep -E 'mix::(mixup|box1px|box10|box50)_calls' |
    awk -v d="$dtype" '{gsub(",", "", $1); match($0, /mix::[a-z0-9]+_calls/); printf "%-5s %-14s %12.0f\n", d, substr($0, RSTART + 5, RLENGTH - 11), $1 / 10}' |
    tee -a "$log"
  rm -f "$out"
done
