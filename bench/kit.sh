# Shared by bench/gpu_check.sh and bench/gpu_bench.sh (sourced, not run): where the logs go, which
# libtorch the carried binaries use, and a step runner that gives every step a time limit, keeps its full
# log and records its outcome. Runs the same way with and without a GPU; see bench/README.md.

KIT_START=$(date +%s)
OUT=${OUT:-bench/results/local}
mkdir -p "$OUT"
: >"$OUT/summary.txt"
source bench/carry.sh
FAILURES=0

# The GPU-required mode: on unless the caller says TCH_MIXCUT_REQUIRE_GPU=0. Every GPU test and bench then
# fails instead of skipping, and a step that cannot run for want of a GPU or a tool is a failure.
export TCH_MIXCUT_REQUIRE_GPU=${TCH_MIXCUT_REQUIRE_GPU:-1}
# Every step ends before this many seconds from the start (one device command is at most 10 minutes;
# the kit's plan is under 5).
DEADLINE=${KIT_DEADLINE_S:-290}

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
if have_gpu; then GPU=yes; else GPU=no; fi

# The libtorch the carried binaries load (PYTHON, TORCH_LIB, LD_LIBRARY_PATH).
source bench/torch_lib.sh

note() { echo "$*" | tee -a "$OUT/summary.txt"; }

# step NAME LIMIT_S LOG COMMAND...: runs COMMAND under `timeout` (LIMIT_S, or less so that the script
# ends by its deadline), output to $OUT/LOG, outcome to the summary.
step() {
  local name=$1 limit=$2 log=$3 start rc left
  shift 3
  start=$(date +%s)
  left=$((DEADLINE - (start - KIT_START) - 10))
  if [ "$left" -lt 5 ]; then
    FAILURES=$((FAILURES + 1))
    note "$(printf '%-40s NOT RUN: the kit reached its %ss deadline' "$name" "$DEADLINE")"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s) -> $OUT/$log"
  { echo "\$ $*"; echo; } >"$OUT/$log"
  timeout -k 5 "$limit" "$@" >>"$OUT/$log" 2>&1
  rc=$?
  { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && echo "TIMED OUT after ${limit}s (exit $rc)" >>"$OUT/$log"
  [ "$rc" = 0 ] || FAILURES=$((FAILURES + 1))
  note "$(printf '%-40s exit %3s  %4ss  %s' "$name" "$rc" "$(($(date +%s) - start))" "$log")"
}

# skip NAME WHY: a step that cannot run here; a failure in the GPU-required mode.
skip() {
  if [ "$TCH_MIXCUT_REQUIRE_GPU" = 1 ]; then
    FAILURES=$((FAILURES + 1))
    note "$(printf '%-40s FAILED: %s (GPU-required mode)' "$1" "$2")"
  else
    note "$(printf '%-40s skipped: %s' "$1" "$2")"
  fi
}

# The carried binaries must be there (unpacked): a kit run without them tests nothing.
need_binaries() { unpack_binaries "$@" || exit 2; }

# memcheck NAME LIMIT_S LOG TEST_ARGS...: the carried CUDA test binary under compute-sanitizer's memcheck
# (one test thread; TEST_ARGS are libtest filters and --skip's), with libtorch's caching allocator off:
# it would hide overruns from the sanitizer, since every tensor then gets its own allocation.
memcheck() {
  local name=$1 limit=$2 log=$3
  shift 3
  if command -v compute-sanitizer >/dev/null 2>&1; then
    step "$name" "$limit" "$log" env PYTORCH_NO_CUDA_MEMORY_CACHING=1 \
      compute-sanitizer --tool memcheck --leak-check no --error-exitcode 3 --print-limit 20 \
      "$BIN/fused_cuda" --test-threads=1 "$@"
  else
    skip "$name" "compute-sanitizer not found"
  fi
}

environment() {
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"; echo "host: $(uname -srm), $(nproc) cores"
    grep -m1 "model name" /proc/cpuinfo
    echo "GPU-required mode: $TCH_MIXCUT_REQUIRE_GPU; GPU: $GPU"
    if [ "$GPU" = yes ]; then
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
      nvidia-smi
    else
      echo "no GPU: nvidia-smi missing or lists no device"
    fi
    echo "nvcc: $(nvcc --version 2>/dev/null | grep release || echo none)"
    echo "compute-sanitizer: $(compute-sanitizer --version 2>/dev/null | grep -i version || echo none)"
    echo "python: $("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
    echo "libtorch used: $TORCH_LIB"
    echo "== libraries the unpacked binaries cannot find"
    for b in "$BIN"/*; do [ -x "$b" ] && ldd "$b" 2>&1 | grep -E "not found|version .* not found" | sed "s|^|$(basename "$b"): |"; done
    echo "(end)"
  } >"$OUT/env.log" 2>&1
  note "environment: GPU $GPU; details in env.log"
}

finish() {
  note "elapsed $(($(date +%s) - KIT_START))s; failures $FAILURES"
  [ "$FAILURES" = 0 ]
}
