"""Turns the GPU kit's speed logs (bench/gpu_bench.sh: bench_crate.log from benches/gpu.rs, bench_peers.log
from peers.py) into the README's table: ms per call, the bytes each operation must move, effective
bandwidth, fraction of the copy's bandwidth on the same bytes, and the speed-up over each peer.

    python3 bench/gpu_table.py bench/results/<run>/          # prints Markdown

Bytes an operation must move (N: bytes of the batch): a copy reads and writes N (2N); in-place Mixup
reads and writes every byte once (2N); in-place CutMix reads and writes only the boxes of both partners
(2·N·area); end to end adds the targets it writes (4·samples·classes); the normalising pass reads N uint8
and writes 2N (bf16) or 4N (f32).
"""
import re
import sys
from pathlib import Path

UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
SIZES = {"f32": 4, "bf16": 2, "u8": 1, "float32": 4, "bfloat16": 2, "uint8": 1}
CLASSES = 1000
HALF_BOX = (158 * 158) / (224 * 224)  # benches/gpu.rs: half_box_plan at 224 x 224


def criterion_medians(text):
    """{benchmark id: median ms} from criterion's output ("<id>\\n   time: [lo median hi]")."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^(gpu/\S+|cpu/\S+)\s*$", line.strip())
        if m:
            name = m.group(1)
            continue
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if m and name:
            out[name] = float(m.group(1)) * UNITS[m.group(2)]
            name = None
    return out


def peer_times(text):
    """{(case, peer): ms} from peers.py's lines "<shape> <dtype>  <peer>  <ms> ms"."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+ \S+)\s+(.+?)\s+([\d.]+) ms$", line.strip())
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def numel(dims):
    n = 1
    for d in dims.split("x"):
        n *= int(d)
    return n


def rows(crate, peers):
    """(case, ms, bytes, copy_ms, copy_bytes, [(peer, ms)]) per crate result."""
    for key, ms in sorted(crate.items()):
        parts = key.split("/")  # gpu/<dims>/<dtype>/<op...>/<executor> or gpu/normalize/<...>
        if parts[1] == "normalize":
            out_dtype = parts[3].split("_")[1]
            n = numel("256x224x224x3")
            chain = crate.get(key.replace("/fused", "/torch_op_chain"))
            found = [("torch op chain", chain)] if key.endswith("/fused") and chain else []
            yield key, ms, n + n * SIZES[out_dtype], None, None, found
            continue
        dims, dtype, op = parts[1], parts[2], "/".join(parts[3:])
        n = numel(dims) * SIZES[dtype]
        copy = crate.get(f"gpu/{dims}/{dtype}/copy")
        if op == "copy":
            continue
        samples = int(dims.split("x")[0])
        moved = 2 * n
        if op.startswith("cutmix_half_area") and "/in_place" in op:
            moved = int(2 * n * HALF_BOX)  # in place, CutMix moves the boxes; out of place every element
        if op.startswith("end_to_end"):
            moved = 2 * n + 4 * samples * CLASSES
        case = f"{dims} {'float32' if dtype == 'f32' else 'bfloat16' if dtype == 'bf16' else 'uint8'}"
        mode = op.split("/")[1] if "/" in op else "batch"
        wanted = {
            "mixup": [f"timm Mixup {mode}", "torchvision MixUp"],
            "cutmix_half_area": ["timm CutMix batch", "torchvision CutMix"],
            "end_to_end": ["timm Mixup batch"],
        }.get(op.split("/")[0], [])
        found = [(p, peers[(case, p)]) for p in wanted if (case, p) in peers]
        yield key, ms, moved, copy, 2 * n, found


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    crate = criterion_medians((folder / "bench_crate.log").read_text())
    peers_path = folder / "bench_peers.log"
    peers = peer_times(peers_path.read_text()) if peers_path.exists() else {}
    print("| case | ms | bytes moved | GB/s | of copy's GB/s | speed-up over peers |")
    print("|---|---|---|---|---|---|")
    for key, ms, moved, copy_ms, copy_bytes, found in rows(crate, peers):
        gbs = moved / ms / 1e6
        frac = f"{gbs / (copy_bytes / copy_ms / 1e6):.0%}" if copy_ms else "–"
        ups = ", ".join(f"{p}: {t / ms:.1f}×" for p, t in found) or "–"
        print(f"| {key} | {ms:.3f} | {moved / 1e6:.1f} MB | {gbs:.0f} | {frac} | {ups} |")
    with_targets = crate.get("gpu/256x3x224x224/f32/mixup/batch/in_place/fused")
    one_class = crate.get("gpu/256x3x224x224/f32/mixup/batch/in_place/1_class/fused")
    if with_targets and one_class:
        print(f"\nTargets at 1000 classes add {100 * (with_targets / one_class - 1):.1f}% to the in-place Mixup (f32, 256x3x224x224).")
    for line in (folder / "bench_crate.log").read_text().splitlines():
        if line.startswith("no-sync check") or line.startswith("host cost per call"):
            print(f"\n{line}")


if __name__ == "__main__":
    main()
