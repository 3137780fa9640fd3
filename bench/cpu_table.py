"""The CPU speed table from one bench/cpu_run.sh run: the crate's criterion estimates (crate.log: the
middle value of each `time:` line) beside the peers' medians (peers.log), each with its ratio to the best peer and as a fraction of a copy's bandwidth, and the
issue's targets checked. Standard library only.

    python3 bench/cpu_table.py bench/results/cpu-<date>      # prints Markdown

Fraction of the copy's bandwidth: (bytes the case must read and write) / (bytes a copy of the batch reads
and writes) x copy time / case time. In-place Mixup moves what a copy moves (1.0); in-place CutMix only the
boxes of both samples of a pair (their area fraction: 0.5, 0.1, or 0.49 for sides drawn in 0.6-0.8).
"""
import re
import sys
from pathlib import Path

UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16", "u8": "uint8"}


def crate_medians(text):
    """{case name: ms} from criterion's output (the point estimate of each `time:` line)."""
    out = {}
    pattern = r"^(cpu/\S+)\s*\n?\s*time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]"
    for name, value, unit in re.findall(pattern, text, flags=re.M):
        out[name] = float(value) * UNITS[unit]
    return out


def peer_medians(text):
    """{(shape, dtype): {peer: ms}} from bench/peers.py's output (refused / missing peers left out)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+) (\S+)\s+(.+?)\s+([\d.]+) ms$", line)
        if m:
            out.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = float(m.group(4))
    return out


def best(peers, names):
    """The fastest of the peers `names` (a name ending in "*" stands for every peer it begins): (name, ms),
    or (None, None)."""
    def matches(peer):
        return any(peer.startswith(n[:-1]) if n.endswith("*") else peer == n for n in names)

    found = [(ms, name) for name, ms in peers.items() if matches(name)]
    return (min(found)[1], min(found)[0]) if found else (None, None)


def fmt(ms):
    return "–" if ms is None else (f"{ms:.3f}" if ms < 1 else f"{ms:.2f}")


def main():
    run = Path(sys.argv[1])
    crate = crate_medians((run / "crate.log").read_text())
    peers = peer_medians((run / "peers.log").read_text())
    checks = []
    rows = []

    def row(shape, dtype, label, case, peer_names, area, target=None, target_text=""):
        ms = crate.get(f"cpu/{shape}/{dtype}/{case}")
        if ms is None:
            return None
        copy = crate.get(f"cpu/{shape}/{dtype}/copy")
        peer, peer_ms = best(peers.get((shape, DTYPES[dtype]), {}), peer_names) if peer_names else (None, None)
        ratio = peer_ms / ms if ms and peer_ms else None
        frac = area * copy / ms if ms and copy and area else None
        rows.append(
            f"| {shape} {dtype} | {label} | {fmt(ms)} | {peer or '–'} {fmt(peer_ms) if peer else ''} | "
            f"{f'{ratio:.1f}×' if ratio else '–'} | {f'{frac:.2f}' if frac else '–'} |"
        )
        if target is not None and ratio is not None:
            checks.append((f"{shape} {dtype} {label}: {ratio:.1f}× {peer} ({target_text})", ratio >= target))
        return ms

    big = "256x3x112x112"
    for dtype in DTYPES:
        if f"cpu/{big}/{dtype}/copy" not in crate:
            continue
        mixup_peers = ("timm Mixup *", "timm FastCollateMixup *")
        modes = [row(big, dtype, f"Mixup {m}, in place", f"mixup/{m}/in_place/fused", mixup_peers, 1.0, 6, "target ≥ 6× the fastest timm path")
                 for m in ["batch", "pair", "elem"]]
        if all(modes):
            spread = max(modes) / min(modes) - 1
            checks.append((f"{big} {dtype} Mixup batch/pair/elem within {spread:.0%} of each other (target ≤ 10%)", spread <= 0.10))
        row(big, dtype, "CutMix batch, sides 0.6–0.8, in place", "cutmix/batch/in_place/fused", ("timm CutMix batch",), 0.49, 2,
            "target ≥ 2× timm's batch CutMix")
        half = row(big, dtype, "CutMix box 50%, in place", "cutmix_box50/batch/in_place/fused", ("timm CutMix batch",), 0.5, 2,
                   "target ≥ 2× timm's batch CutMix")
        tenth = row(big, dtype, "CutMix box 10%, in place", "cutmix_box10/batch/in_place/fused", ("timm CutMix batch box10",), 0.1)
        row(big, dtype, "CutMix box of one pixel, in place (a call's fixed cost)", "cutmix_box1px/batch/in_place/fused", None, None)
        if half and tenth:
            checks.append((f"{big} {dtype} CutMix box 10% costs {tenth / half:.2f} of box 50% (target ≤ 0.33)", tenth / half <= 1 / 3))
        # One thread: the executor beside a plain swap of the same boxes' rows (the memory system's share).
        for who, label in [("fused_one_thread", "the executor"), ("bare_swap_one_thread", "a plain swap of the box rows")]:
            # No bandwidth fraction: the copy ran on two threads.
            box50 = row(big, dtype, f"CutMix box 50%, in place, one thread, {label}", f"cutmix_box50/batch/in_place/{who}", None, None)
            box10 = row(big, dtype, f"CutMix box 10%, in place, one thread, {label}", f"cutmix_box10/batch/in_place/{who}", None, None)
            if box50 and box10:
                rows.append(f"| {big} {dtype} | one thread, {label}: box 10% over box 50% | {box10 / box50:.2f} | – | – | – |")
        row(big, dtype, "CutMix box of one pixel, in place, one thread", "cutmix_box1px/batch/in_place/fused_one_thread", None, None)
        for level in ["baseline", "v3", "avx512"]:
            row(big, dtype, f"Mixup batch, in place, level {level}", f"mixup/batch/in_place/fused_{level}", None, 1.0)
        row(big, dtype, "Mixup batch, out of place", "mixup/batch/out_of_place/fused", None, None)
        row(big, dtype, "Mixup batch, in place, reference executor", "mixup/batch/in_place/reference", None, 1.0)
    small = "128x3x32x32"
    for dtype in DTYPES:
        if f"cpu/{small}/{dtype}/copy" not in crate:
            continue
        # timm's batch mode: Mixup(mode="batch"), or for uint8 (which Mixup refuses) FastCollateMixup's.
        row(small, dtype, "Mixup batch, in place, with targets", "mixup/batch/in_place/fused",
            ("timm Mixup batch", "timm FastCollateMixup batch"), 1.0, 10, "target ≥ 10× timm's batch mode")
        row(small, dtype, "DeiT recipe (Mixup or CutMix), in place", "deit/batch/in_place/fused", None, None)
        row(small, dtype, "CutMix box 50%, in place", "cutmix_box50/batch/in_place/fused", ("timm CutMix batch",), 0.5)

    print("| batch | case | crate (ms) | best peer (ms) | ratio | fraction of copy bandwidth |")
    print("|---|---|---|---|---|---|")
    for dtype_shape in [big, small]:
        for r in rows:
            if r.startswith(f"| {dtype_shape}"):
                print(r)
    copies = [f"{k.split('/')[1]} {k.split('/')[2]} {fmt(v)}" for k, v in crate.items() if k.endswith("/copy")]
    print(f"\nCopy of the same bytes (ms, crate bench): {'; '.join(copies)}\n")
    print("Targets:\n")
    for text, ok in checks:
        print(f"- {'met' if ok else '**missed**'}: {text}")


if __name__ == "__main__":
    main()
