#!/usr/bin/env bash
# Builds, here, what a lent GPU machine runs (it has libtorch 2.11 + CUDA but no Rust): the release test
# binaries of the CUDA and CPU equivalence suites and the criterion bench, stripped, in gpu-carry/.
# Then, with the device tool: run `bash bench/gpu_run.sh` with carry ["gpu-carry"] (shared/gpu/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf gpu-carry && mkdir -p gpu-carry
executables() { python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])'; }
{ cargo test --release --no-run --message-format=json --test fused_cuda --test fused_cpu;
  cargo bench --no-run --message-format=json --bench mix; } | executables | while read -r name exe; do
  cp "$exe" "gpu-carry/$name" && strip "gpu-carry/$name"
done
ls -la gpu-carry
du -sh gpu-carry
