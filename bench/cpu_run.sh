#!/usr/bin/env bash
# The CPU speed run, one command on one machine: the crate's criterion benches (benches/mix.rs, about 3
# minutes on 2 cores), then timm, torchvision and a copy on the same batches (bench/peers.py, about 3
# minutes), then the table with ratios (bench/cpu_table.py). Raw logs, the machine and the table go to
# $OUT (default bench/results/cpu-<UTC date>/). PYTHON names a python with torch 2.11, timm 1.0.31 and
# torchvision 0.26 (see bench/README.md); FILTER narrows the crate's cases (default: all CPU cases).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-bench/results/cpu-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"

machine() {
  date -u
  uname -srm
  nproc
  grep -m1 "model name" /proc/cpuinfo
  grep -o -w -E 'avx2|f16c|fma|avx512f|avx512bw|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '
  echo
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

machine >"$OUT/machine.txt"
cargo bench --bench mix --no-run 2>&1 | tail -1
{
  echo "\$ cargo bench --bench mix -- ${FILTER:-cpu/}   ($(date -u), load $(cut -d' ' -f1-3 /proc/loadavg))"
  cargo bench --bench mix -- "${FILTER:-cpu/}" 2>&1
} | tee "$OUT/crate.log"
{
  echo "\$ $PYTHON bench/peers.py --device cpu --shapes 256x3x112x112,128x3x32x32 --dtypes float32,bfloat16,float16,uint8 --all-dtypes   ($(date -u), load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$PYTHON" bench/peers.py --device cpu --shapes 256x3x112x112,128x3x32x32 --dtypes float32,bfloat16,float16,uint8 --all-dtypes --reps 5 2>&1
} | tee "$OUT/peers.log"
echo "end: $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 bench/cpu_table.py "$OUT" | tee "$OUT/table.md"
