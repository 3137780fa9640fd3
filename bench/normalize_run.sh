#!/usr/bin/env bash
# The fused normalising pass against the chain of tch ops it replaces (benches/normalize.rs), with the
# machine described, raw output under bench/results/normalize-<UTC date>/ (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/normalize-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
{
  date -u; uname -srm; echo "$(nproc) cores"; grep -m1 "model name" /proc/cpuinfo
  grep -o -w -E 'avx2|f16c|fma|avx512f|avx512bw' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cargo bench --bench normalize 2>&1 | tee "$OUT/bench.log"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
