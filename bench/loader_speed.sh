#!/usr/bin/env bash
# Image-folder loader throughput at 224 x 224 from JPEG: the examples' Rust loader beside torchvision's
# ImageFolder + DataLoader, same files, same transforms (RandomResizedCrop + flip, uint8 output), same
# number of workers, batch 128, alternating twice. Writes the raw output and the machine to
# bench/results/loader-<date>.txt.
#   PY=/path/to/python-with-torch-torchvision-pillow bash bench/loader_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
N=${N:-3000}
WORKERS=${WORKERS:-2}
DIR=${DIR:-$(mktemp -d)/jpegs}
OUT=${OUT:-bench/results/loader-$(date -u +%Y-%m-%d).txt}
cargo build --release --example loader_speed
[ -d "$DIR/train" ] || "$PY" bench/make_jpegs.py --out "$DIR" --n "$N"
{
  echo "== machine"; date -u; uname -srm; nproc; grep -m1 "model name" /proc/cpuinfo; free -g
  echo "== versions"; "$PY" -c "import torch, torchvision, PIL; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'pillow', PIL.__version__)"
  echo "== files"; du -sh "$DIR/train" | cut -f1; find "$DIR/train" -name '*.jpg' | wc -l
  for round in 1 2; do
    echo "== round $round, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    ./target/release/examples/loader_speed --data "$DIR" --workers "$WORKERS" --batch-size 128 --image-size 224
    "$PY" bench/loader_peer.py --data "$DIR" --workers "$WORKERS" --batch-size 128 --image-size 224
  done
  echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$OUT"
