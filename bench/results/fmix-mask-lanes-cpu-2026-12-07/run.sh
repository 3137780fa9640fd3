#!/usr/bin/env bash
# Two criterion bench binaries (e.g. benches/mix.rs before and after a change), alternately, three rounds,
# in one command on one machine; $1: criterion's case filter; $2 and $3: the binaries (default `before`
# and `after`).
set -u
for round in 1 2 3; do
  for build in "${2:-before}" "${3:-after}"; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench "$1" 2>&1 | grep -E "^cpu|time:"
  done
done
