#!/usr/bin/env bash
# One bench binary (benches/mix.rs at this commit), three rounds of the `cpu/sides/` cases: 3x111x111
# samples (not whole vectors) beside 3x112x112 (whole vectors), in one command on one machine.
set -u
for round in 1 2 3; do
  echo "=== round $round (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  ./after_sides --bench 'cpu/sides/' 2>&1 | grep -E "^cpu|time:"
done
