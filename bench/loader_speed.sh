#!/usr/bin/env bash
# Image-folder loader throughput from ImageNet-like JPEGs (bench/make_jpegs.py), 224 px then 112 px
# training output (at 112 px the larger crops decode DCT-scaled), batch 256: tch_mixcut::data's loader
# with full-size and with DCT-scaled JPEG decoding, beside torchvision's ImageFolder + DataLoader (PIL),
# same files, same transforms (RandomResizedCrop + flip, uint8 output), the same number of workers (1,
# then 2), alternating twice; NVIDIA DALI's CPU pipeline too (bench/loader_dali.py) where its package
# imports; whether FFCV's does. Every run under bench/peak_mem.py (peak PSS and CPU time over its process
# tree). Last, the loader's peak memory with queues of 1, 4 and 16 batches, and full against scaled
# decoding on 1,000 large photographs. PARTS picks among peers, queue and large. Writes the raw output
# and the machine to bench/results/loader-<date>/.
#   PY=/path/to/python-with-torch-torchvision-pillow-scikit-image bash bench/loader_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
N=${N:-5000}
WORKERS=${WORKERS:-1 2}  # one round set per worker count
DIR=${DIR:-$(mktemp -d)/jpegs}
OUT=${OUT:-bench/results/loader-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
cargo build --release --example loader_speed
bin=${CARGO_TARGET_DIR:-target}/release/examples/loader_speed
[ -d "$DIR/train" ] || "$PY" bench/make_jpegs.py --out "$DIR" --n "$N" | tee "$OUT/files.log"
mem=("$PY" bench/peak_mem.py --)
dali=$("$PY" -c "import nvidia.dali as d; print('version', d.__version__)" 2>/dev/null || true)
SIZES=${SIZES:-224 112}  # output sides
PARTS=${PARTS:-peers queue large}  # which parts to run
large=${DIR%/}-large
if [[ " $PARTS " == *" large "* && ! -d "$large/train" ]]; then
  "$PY" bench/make_jpegs.py --out "$large" --n 1000 --scale 3 | tee -a "$OUT/files.log"
fi
{
  echo "== machine"; date -u; uname -srm; echo "cores: $(nproc)"; lscpu | grep -m1 "Model name"; free -g
  echo "== versions"
  "$PY" -c "import torch, torchvision, PIL; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'pillow', PIL.__version__)"
  echo "== DALI: ${dali:-not importable, no DALI rows}"
  echo "== files"; du -sh "$DIR/train" | cut -f1; find "$DIR/train" -name '*.JPEG' | wc -l
  for workers in $WORKERS; do
    for size in $SIZES; do
      [[ " $PARTS " == *" peers "* ]] || break
      args=(--data "$DIR" --workers "$workers" --batch-size 256 --image-size "$size")
      for round in 1 2; do
        echo "== $workers workers, $size px, round $round, load: $(cut -d' ' -f1-3 /proc/loadavg)"
        order="full scaled"
        [ "$round" = 1 ] || order="scaled full"  # neither decoding always runs first
        for decoding in $order; do
          "${mem[@]}" "$bin" "${args[@]}" --decoding "$decoding"
        done
        "${mem[@]}" "$PY" bench/loader_peer.py "${args[@]}"
        if [ -n "$dali" ]; then "${mem[@]}" "$PY" bench/loader_dali.py "${args[@]}"; fi
      done
    done
  done
  echo "== memory against the queue's length: 224 px, batch 256, prefetch 1, 4 and 16 batches"
  for prefetch in 1 4 16; do
    [[ " $PARTS " == *" queue "* ]] || break
    "${mem[@]}" "$bin" --data "$DIR" --workers 2 --batch-size 256 --image-size 224 --prefetch "$prefetch"
  done
  echo "== large photographs (both sides 3x: 1200-1500 x 900-1200), 224 px: full against scaled decoding"
  for round in 1 2; do
    [[ " $PARTS " == *" large "* ]] || break
    order="full scaled"
    [ "$round" = 1 ] || order="scaled full"
    for decoding in $order; do
      "${mem[@]}" "$bin" --data "$large" --workers 2 --batch-size 256 --image-size 224 --decoding "$decoding"
    done
  done
  echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== FFCV: $("$PY" -c "import ffcv; print('version', ffcv.__version__)" 2>&1 | tail -1)"
} 2>&1 | tee "$OUT/${LOG:-run.log}"
