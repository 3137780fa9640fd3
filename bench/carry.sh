# Sourced by bench/kit.sh and scripts/gpu_experiment.sh (not run): the carried folder ($B) and where its
# binaries run from ($BIN). scripts/gpu_carry.sh gzips each binary (to about a third of its size), which
# keeps the carry well under the 64 MiB that a command on the GPU machine takes with the tree. They are
# unpacked beside the carry, not into it, so that a carry dry-run here first does not grow.

B=${CARRY:-gpu-carry}
while [ "${B%/}" != "$B" ] && [ "$B" != / ]; do B=${B%/}; done
BIN=$B.bin

# unpack_binaries NAME...: $BIN/NAME from $B/NAME.gz, or says which binary is missing and returns 1.
# Unpacked on every call (well under a second): a binary left from an earlier carry, on a machine kept
# between calls, must not stand in for the carried one.
unpack_binaries() {
  local missing=0 name part
  mkdir -p "$BIN"
  for name in "$@"; do
    if ! [ -f "$B/$name.gz" ]; then
      echo "missing $B/$name.gz: run scripts/gpu_carry.sh first" >&2
      missing=1
      continue
    fi
    # A file of its own, so that scripts run side by side do not write into each other's.
    part=$(mktemp "$BIN/$name.XXXXXX") &&
      gzip -dc "$B/$name.gz" >"$part" && chmod +x "$part" && mv -f "$part" "$BIN/$name" || {
      rm -f "$part"
      echo "cannot unpack $B/$name.gz" >&2
      missing=1
    }
  done
  [ "$missing" = 0 ]
}
