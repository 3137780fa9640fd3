#!/usr/bin/env bash
# Two criterion bench binaries (benches/mix.rs before and after a change), alternately, in one command on
# one machine; $1: criterion's case filter; $2: rounds; $3 and $4: the binaries (default `before`, `after`).
set -u
for round in $(seq 1 "$2"); do
  for build in "${3:-before}" "${4:-after}"; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench "$1" 2>&1 | grep -E "^cpu|time:"
  done
done
