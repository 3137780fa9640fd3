#!/usr/bin/env bash
# Two bench binaries (benches/mix.rs), alternately, three rounds, in one command on one machine.
set -u
for round in 1 2 3; do
  for build in before after; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench 'cpu/family/256x3x111x111/u8/|cpu/family/256x3x112x112/u8/resizemix' 2>&1 | grep -E "^cpu|time:"
  done
done
