#!/usr/bin/env bash
# CutMix beside ResizeMix at 256x3x112x112 (vectors), f32 and u8, both binaries alternately, three rounds.
set -u
for round in 1 2 3; do
  for build in before after; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench 'cpu/family/256x3x112x112/(u8|f32)/(resizemix|cutmix)_half_area' 2>&1 | grep -E "^cpu|time:"
  done
done
