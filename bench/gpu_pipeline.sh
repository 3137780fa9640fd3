#!/usr/bin/env bash
# The ImageNet-style training pipeline end to end on a GPU machine, beside PyTorch on the same card, in
# one device command of its own (deadline 560 s; a few minutes on an H100/H200 with 16 cores): an
# ImageNet-layout folder of JPEGs (bench/make_jpegs.py: 20,000 training files of 400-500 x 300-400 px,
# 100 classes), then, each timed alone,
#   1. the loader alone with 15 workers: tch_mixcut::data (examples/loader_speed.rs) and torchvision's
#      ImageFolder + DataLoader (bench/loader_peer.py);
#   2. the model on one resident batch (ResNet-50, bf16 weights, channels-last, batch 256, DeiT's mixing,
#      SGD): examples/pipeline_speed.rs --mode model and bench/pipeline_peer.py --mode model;
#   3. the whole pipeline from the files: --mode pipeline of both.
# The GPU's utilisation is sampled twice a second during each step (util_<step>.csv beside <step>.log;
# its mean, over the whole process, start-up and warm-up included, in the summary). Logs and summary.txt
# under $OUT. Without a GPU the same steps run on the CPU at a tiny size (ResNet-50 in bf16, 64 px,
# batch 8, 2 steps), so a typo shows here and not on the GPU.
# Build the carry first (scripts/gpu_carry.sh); see bench/README.md.
set -u
cd "$(dirname "$0")/.."
# Its own device command: the steps' limits add up to more than the kit's usual 290 s.
export KIT_DEADLINE_S=${KIT_DEADLINE_S:-560}
source bench/kit.sh
need_binaries loader_speed pipeline_speed
environment

if [ "$GPU" = yes ]; then
  n=${PIPELINE_FILES:-20000} workers=15 device=cuda:0
  size=(--batch-size 256 --image-size 224)
  # 40 warm-up steps: more than the 30 batches either loader holds (2 a worker), so the timed steps
  # start from a drained queue and show the loader's pace, not its backlog.
  train=(--arch resnet50 --precision bf16 --warmup 40 --steps 100)
else
  skip "pipeline on the GPU" "no GPU"
  [ "$TCH_MIXCUT_REQUIRE_GPU" = 1 ] && { finish; exit 1; }
  n=64 workers=2 device=cpu
  size=(--batch-size 8 --image-size 64)
  train=(--arch resnet50 --precision bf16 --warmup 1 --steps 2)
fi
data=${PIPELINE_DATA:-$(mktemp -d)/jpegs}

# sampled NAME LIMIT_S LOG COMMAND...: step, with the GPU's utilisation sampled while it runs.
sampled() {
  local name=$1 sampler=""
  if [ "$GPU" = yes ]; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500 \
      >"$OUT/util_${3%.log}.csv" 2>&1 &
    sampler=$!
  fi
  step "$@"
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    note "$(printf '%-40s %s' "  $name" "$(awk -F', ' '{ gsub(/ %/, "", $2); s += $2; n++ }
      END { if (n) printf "GPU busy %.0f%% (mean of %d samples)", s / n, n }' "$OUT/util_${3%.log}.csv")")"
  fi
}

# pyrun NAME LIMIT_S LOG MODULES SCRIPT ARGS...: a python step, skipped (a failure in the GPU-required
# mode) where $PYTHON cannot import MODULES (a CPU machine's dry run without torch, as in CI).
pyrun() {
  local name=$1 limit=$2 log=$3 modules=$4
  shift 4
  if "$PYTHON" -c "import $modules" 2>/dev/null; then
    sampled "$name" "$limit" "$log" "$PYTHON" "$@"
  else
    skip "$name" "$PYTHON cannot import $modules"
  fi
}

pyrun "JPEG folder ($n files)" 120 make_jpegs.log numpy,PIL bench/make_jpegs.py --out "$data" --n "$n" \
  --classes 100 --jobs "$(nproc)" --fashion-mnist "$B/fashion-mnist"
# Only a folder make_jpegs.py finished (its last line): one cut short by its limit would time fewer files.
complete=no
grep -q "^wrote $n training" "$OUT/make_jpegs.log" 2>/dev/null && complete=yes
loader=(--data "$data" --workers "$workers" "${size[@]}")
torch=torch,torchvision,timm
model=(--device "$device" "${size[@]}" "${train[@]}")
if [ "$complete" = yes ]; then
  sampled "loader alone: tch-mixcut" 60 loader_crate.log "$BIN/loader_speed" "${loader[@]}"
  pyrun "loader alone: torchvision" 90 loader_torch.log $torch bench/loader_peer.py "${loader[@]}"
  model+=(--data "$data")
else
  skip "loader and pipeline" "no complete JPEG folder (see make_jpegs.log)"
fi
sampled "model alone: tch-mixcut" 90 model_crate.log "$BIN/pipeline_speed" --mode model "${model[@]}"
pyrun "model alone: pytorch" 90 model_torch.log $torch bench/pipeline_peer.py --mode model "${model[@]}"
if [ "$complete" = yes ]; then
  sampled "pipeline: tch-mixcut" 90 pipeline_crate.log "$BIN/pipeline_speed" --mode pipeline "${loader[@]}" \
    --device "$device" "${train[@]}"
  pyrun "pipeline: pytorch" 120 pipeline_torch.log $torch bench/pipeline_peer.py --mode pipeline "${loader[@]}" \
    --device "$device" "${train[@]}"
fi
finish
