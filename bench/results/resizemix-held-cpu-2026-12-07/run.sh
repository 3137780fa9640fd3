#!/usr/bin/env bash
# Criterion bench binaries (benches/mix.rs built at different commits), each in turn, three rounds, in one
# command on one machine; $1: criterion's case filter; the rest: the binaries, run from this directory's
# caller (default `before` and `after`).
set -u
filter=$1
shift
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=(before after)
for round in 1 2 3; do
  for build in "${builds[@]}"; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench "$filter" 2>&1 | grep -E "^cpu|time:"
  done
done
