#!/usr/bin/env bash
# Sets up everything tch-mixcut needs on a fresh x86_64 Linux machine, inside the checkout:
#   .venv/      python venv holding libtorch 2.11.0 (PyPI's torch wheel) and CUDA 13.0 nvcc (PyPI wheels)
#   libtorch    symlink to the wheel's torch/ folder (what .cargo/config.toml's LIBTORCH points at)
#   Fashion-MNIST from Debian's dataset-fashion-mnist and the DejaVu font (captions of the examples'
#   pictures) from fonts-dejavu-core, when root and apt are available.
# Idempotent: a second run only checks a stamp and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
# CUDA 13.0 toolchain, pinned together (a bare install pulls crt/nvvm 13.5 beside nvcc 13.0).
NVCC_PKGS=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
           nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96)
FMNIST_DIR=/usr/share/datasets/fashion-mnist
STAMP=.venv/.tch-mixcut-setup-v1

have_gpu_driver() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
mode=cpu; have_gpu_driver && mode=cuda

FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

install_dataset() {
  [ -f "$FMNIST_DIR/t10k-labels-idx1-ubyte.gz" ] && [ -f "$FONT" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's dataset-fashion-mnist and fonts-dejavu-core"
    local pkgs=(dataset-fashion-mnist fonts-dejavu-core)
    (apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1) ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq "${pkgs[@]}" >/dev/null; }
  else
    echo "setup: Fashion-MNIST not found at $FMNIST_DIR. Install it with" >&2
    echo "         sudo apt-get install dataset-fashion-mnist" >&2
    echo "       or point FASHION_MNIST_DIR (or --data) at a folder with the gzipped IDX files." >&2
    echo "       The examples' pictures need fonts-dejavu-core (or MIXCUT_FONT=/path/to/font.ttf)." >&2
  fi
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$mode" ] && [ -e libtorch/lib/libtorch_cpu.so ]; then
  install_dataset
  exit 0
fi

echo "setup: creating .venv with torch==$TORCH_VERSION ($mode) and nvcc 13.0"
python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ "$mode" = cuda ]; then
  # A driver is present: the full wheel brings libtorch_cuda's runtime libraries (cuDNN, cuBLAS, ...).
  "${pip[@]}" "torch==$TORCH_VERSION"
else
  # CPU only: the slim install (torch itself plus the two CUDA libraries libtorch_cpu links against).
  "${pip[@]}" --no-deps "torch==$TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
fi
"${pip[@]}" --no-deps "${NVCC_PKGS[@]}"

site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "$(realpath --relative-to=. "$site/torch")" libtorch
ln -sfn "$(realpath --relative-to=. "$site/nvidia/cu13")" cuda
install_dataset
echo "$mode" >"$STAMP"
echo "setup: done (LIBTORCH=$(pwd)/libtorch, nvcc at $(pwd)/cuda/bin/nvcc)"
