# Sourced by bench/kit.sh and scripts/gpu_experiment.sh (not run): the carried folder ($B) and where its
# binaries run from ($BIN). scripts/gpu_carry.sh gzips each binary (to about a third of its size), which
# keeps the carry well under the 64 MiB a device command takes with the tree. They are unpacked beside the
# carry, not into it, so that a carry dry-run here first does not grow.

B=${CARRY:-gpu-carry}
BIN=${B%/}.bin

# unpack_binaries NAME...: $BIN/NAME from $B/NAME.gz (again only when the archive is newer), or says
# which binary is missing and returns 1.
unpack_binaries() {
  local missing=0 name
  mkdir -p "$BIN"
  for name in "$@"; do
    if ! [ -f "$B/$name.gz" ]; then
      echo "missing $B/$name.gz: run scripts/gpu_carry.sh first" >&2
      missing=1
    elif ! [ "$BIN/$name" -nt "$B/$name.gz" ] &&
      ! { gzip -dc "$B/$name.gz" >"$BIN/$name.part" && chmod +x "$BIN/$name.part" && mv "$BIN/$name.part" "$BIN/$name"; }; then
      rm -f "$BIN/$name.part"
      echo "cannot unpack $B/$name.gz" >&2
      missing=1
    fi
  done
  [ "$missing" = 0 ]
}
