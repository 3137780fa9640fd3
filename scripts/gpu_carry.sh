#!/usr/bin/env bash
# Builds, here, what the GPU kit runs on a GPU machine (which has libtorch 2.11 and CUDA but no Rust):
# the release GPU test binary, the GPU bench, the training example and the pipeline's timing examples
# (loader_speed, pipeline_speed), stripped and gzipped, plus Fashion-MNIST for the training step, in
# gpu-carry/. Then run bench/gpu_check.sh, bench/gpu_bench.sh, bench/gpu_pipeline.sh and
# bench/gpu_profile.sh there with gpu-carry carried along (bench/README.md); they unpack the binaries they
# run into gpu-carry.bin/ (bench/carry.sh).
#
# FULL_DATA=1 carries the calibration experiment instead of the pipeline (scripts/gpu_experiment.sh): the
# same binaries but the pipeline's, all of Fashion-MNIST and the captions' font.
set -euo pipefail
FULL_DATA=${FULL_DATA:-0}
# The GPU machines are Hopper (H100, H200): their cubin alone keeps the carry small.
export TCH_MIXCUT_CUDA_ARCHS=${TCH_MIXCUT_CUDA_ARCHS:-90}
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf gpu-carry gpu-carry.bin && mkdir -p gpu-carry
# The pipeline's timing examples (bench/gpu_pipeline.sh), left out of the FULL_DATA carry to keep it small.
pipeline=(--example loader_speed --example pipeline_speed)
[ "$FULL_DATA" = 1 ] && pipeline=()
executables() { python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])'; }
{
  cargo test --release --no-run --message-format=json --test fused_cuda
  cargo bench --no-run --message-format=json --bench gpu
  cargo build --release --message-format=json --example train_resnet "${pipeline[@]}"
} | executables | while read -r name exe; do
  cp "$exe" "gpu-carry/$name" && strip "gpu-carry/$name"
done
# Fashion-MNIST for the training step: the test split and the first 12,800 training images (the carry is
# limited in size; 3 epochs of 100 steps).
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ "$FULL_DATA" = 1 ]; then
  mkdir -p gpu-carry/fashion-mnist && cp "$data"/*-ubyte.gz gpu-carry/fashion-mnist/
  font=${MIXCUT_FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
  cp "$font" gpu-carry/ || echo "gpu_carry: no font at $font: the experiment's pictures will be skipped" >&2
elif [ -f "$data/train-images-idx3-ubyte.gz" ]; then
  mkdir -p gpu-carry/fashion-mnist && cp "$data"/t10k-*-ubyte.gz gpu-carry/fashion-mnist/
  python3 - "$data" gpu-carry/fashion-mnist 12800 <<'PY'
import gzip, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, item in [("train-images-idx3-ubyte.gz", 28 * 28), ("train-labels-idx1-ubyte.gz", 1)]:
    raw = gzip.open(f"{src}/{name}").read()
    rank = raw[3]
    dims = list(struct.unpack(f">{rank}I", raw[4:4 + 4 * rank]))
    body = raw[4 + 4 * rank:4 + 4 * rank + n * item]
    dims[0] = n
    with gzip.open(f"{dst}/{name}", "wb") as f:
        f.write(raw[:4] + struct.pack(f">{rank}I", *dims) + body)
PY
else
  echo "gpu_carry: Fashion-MNIST not found in $data: the kit's training step will fail" >&2
fi
# A build without the CUDA kernels would spend the GPU minutes on skips: refuse to carry it.
report=$(TCH_MIXCUT_REQUIRE_GPU=0 gpu-carry/fused_cuda environment_report --nocapture 2>&1)
grep -q "kernels built: true" <<<"$report" || {
  echo "gpu_carry: the carried binaries have no CUDA kernels (see the build's cargo warning; after installing nvcc, \
run cargo clean -p tch-mixcut):" >&2
  echo "$report" >&2
  exit 1
}
# Gzipped, the binaries take about a third of the room, which leaves the carry room to grow under its limit.
for exe in gpu-carry/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  gzip -6 "$exe"
  chmod -x "$exe.gz"
done
ls -la gpu-carry
# A command on the GPU machine carries at most 64 MiB: this folder and the tree (tracked files and
# untracked ones git does not ignore), with 2 MiB to spare.
carry=$(du -sb gpu-carry | cut -f1)
tree=$({ git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null || true; } | tail -1 | cut -f1)
mib=$(((carry + ${tree:-0}) / 1048576))
echo "gpu_carry: gpu-carry/ is $((carry / 1048576)) MiB, and with the tree $mib MiB"
[ "$mib" -lt 62 ] || {
  echo "gpu_carry: that is more than a command on the GPU machine carries (64 MiB in all)" >&2
  exit 1
}
