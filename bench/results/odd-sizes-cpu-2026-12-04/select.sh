#!/usr/bin/env bash
# Two bench binaries alternately, three rounds: `before2` (the commit with the tails) and `select` (its
# normalising pass copying a vector whole where the box covers none or all of its lanes), CutMix's and
# Mixup's normalising pass NHWC -> NCHW f32 at 256x3x111x111.
set -u
for round in 1 2 3; do
  for build in before2 select; do
    echo "=== round $round: $build (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    ./$build --bench 'cpu/family/256x3x111x111/u8/cutmix_half_area/batch/normalized|cpu/sides/256x3x111x111/u8/mixup/batch/normalized_nhwc' 2>&1 | grep -E "^cpu|time:"
  done
done
