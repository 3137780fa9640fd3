#!/usr/bin/env bash
# The `after` bench binary built with timers.patch applied (`timed`), its masks-only case under three
# OpenMP settings; each call of the masks prints the time of the noise (spectrum draws included), of the
# spectrum draws alone and of the selection. The last lines of each setting are kept.
set -u
for env in "OMP_WAIT_POLICY=" "OMP_WAIT_POLICY=passive" "OMP_NUM_THREADS=1"; do
  echo "=== $env (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  env $env FMIX_T=1 ./timed --bench 'u8/fmix_half_area/masks_only' --warm-up-time 1 --measurement-time 2 \
    --sample-size 10 2>&1 | grep -E "^(noise|spectrum)|time:" | tail -13
done
