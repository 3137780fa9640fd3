#!/usr/bin/env bash
# Every CUDA test under compute-sanitizer's memcheck, with libtorch's caching allocator off (one device
# command, under 9 minutes): the equivalence matrix; the mix family, the normalising pass and the runs of
# every length; then every other test of the binary (hand plans, large and misaligned batches, class
# masks, BCE targets, the stream and ordering tests, label errors, a second device; not the load-failure
# fallback, whose deliberate driver error memcheck would count), so that a test added later is covered
# without a change here. Each step has its own time limit; logs under $OUT. Build the carried binaries first with scripts/gpu_carry.sh; see bench/README.md.
set -u
cd "$(dirname "$0")/.."
export KIT_DEADLINE_S=${KIT_DEADLINE_S:-530}
source bench/kit.sh
export TCH_MIXCUT_POISON=1
need_binaries fused_cuda
environment

first=(fused_cuda_matches_reference_over_the_matrix)
second=(the_mix_family normalising runs_of_every_length)
skips=()
for t in "${first[@]}" "${second[@]}"; do skips+=(--skip "$t"); done
# The load-failure test hands the driver a corrupt image on purpose, an API error memcheck would count;
# gpu_check.sh runs it without the sanitizer.
skips+=(--skip kernels_that_cannot_load)
# The tests each step takes, listed first (no GPU needed): a dry run shows the split covers every test.
{
  echo "== equivalence matrix"; "$BIN/fused_cuda" --list "${first[@]}"
  echo "== family, normalising, run lengths"; "$BIN/fused_cuda" --list "${second[@]}"
  echo "== every other CUDA test"; "$BIN/fused_cuda" --list "${skips[@]}"
} >"$OUT/memcheck_tests.log" 2>&1
# Against the binary's whole list: every test in exactly one step, but the load-failure test.
all=$("$BIN/fused_cuda" --list 2>/dev/null | grep ': test$' | sort)
listed=$(grep ': test$' "$OUT/memcheck_tests.log" | sort)
outside=$(comm -23 <(echo "$all") <(echo "$listed" | uniq) | sed 's/: test$//' | tr '\n' ' ' | sed 's/ $//')
twice=$(echo "$listed" | uniq -d | sed 's/: test$//' | tr '\n' ' ' | sed 's/ $//')
note "$(printf '%-40s %s' "tests per memcheck step" "$(echo "$listed" | grep -c .) listed of $(echo "$all" | grep -c .) \
(memcheck_tests.log); not under memcheck: ${outside:-none}; in two steps: ${twice:-none}")"
expected=$(echo "$all" | grep kernels_that_cannot_load | sed 's/: test$//' | tr '\n' ' ' | sed 's/ $//')
if [ "$outside" != "$expected" ] || [ -n "$twice" ]; then
  FAILURES=$((FAILURES + 1))
  note "  FAILED: the steps should cover every test once, the load-failure test excepted"
fi
memcheck "memcheck: equivalence matrix" 180 memcheck_matrix.log "${first[@]}"
memcheck "memcheck: family, normalising, run lengths" 180 memcheck_family.log "${second[@]}"
memcheck "memcheck: every other CUDA test" 150 memcheck_rest.log "${skips[@]}"
finish
