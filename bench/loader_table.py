"""The loader benchmark's tables from its raw log (bench/loader_speed.sh's run.log): for each worker
count and output size, each loader's images/s in the two rounds, per worker, images per CPU-second
(the process tree's user + system time) and peak memory; then the ratios to torchvision.

    python3 bench/loader_table.py bench/results/loader-<date>/run.log > bench/results/loader-<date>/table.md
"""
import re
import sys
from collections import defaultdict

RUN = re.compile(r"^(?P<name>.+?)(?:,| \() ?.*?(?P<workers>\d+) (?:workers|threads): (?P<n>\d+) images in (?P<s>[\d.]+) s")
NAMES = [
    ("tch-mixcut data::Loader (Full", "`tch_mixcut::data` (full-size decoding, the default)"),
    ("tch-mixcut data::Loader (Scaled", "`tch_mixcut::data`, DCT-scaled decoding"),
    ("torchvision", "torchvision `ImageFolder` + `DataLoader` (PIL)"),
    ("DALI", "DALI CPU pipeline"),
]


def label(line):
    return next((name for prefix, name in NAMES if line.startswith(prefix)), None)


def parse(path):
    runs, section, current = defaultdict(list), None, None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^== (\d+) workers, (\d+) px, round", line)
        if m:
            section = (int(m[1]), int(m[2]))
            continue
        if line.startswith("=="):
            section = None
            continue
        run = RUN.match(line)
        if run and section and label(line):
            current = {"n": int(run["n"]), "s": float(run["s"])}
            runs[(section, label(line))].append(current)
        elif line.startswith("peak memory") and current is not None:
            current["mib"] = float(re.search(r"([\d.]+) MiB", line)[1])
        elif line.startswith("CPU time") and current is not None:
            current["cpu"] = float(re.search(r"([\d.]+) s", line)[1])
    return runs


def main():
    runs = parse(sys.argv[1])
    for section in sorted({s for s, _ in runs}, key=lambda s: (s[0], -s[1])):
        workers, size = section
        print(f"\n{workers} worker{'s' if workers > 1 else ''}, {size} px: images/s (two rounds), per worker, "
              "images per CPU-second, peak memory\n")
        print("| loader | images/s | per worker | per CPU-second | peak memory |")
        print("|---|---|---|---|---|")
        rates = {}
        for _, name in NAMES:
            rs = runs.get((section, name), [])
            if not rs:
                continue
            rate = [r["n"] / r["s"] for r in rs]
            cpu = [r["n"] / r["cpu"] for r in rs if r.get("cpu")]
            rates[name] = rate
            join = lambda xs, f="{:.0f}": ", ".join(f.format(x) for x in xs)  # noqa: E731
            print(f"| {name} | {join(rate)} | {join([x / workers for x in rate])} | {join(cpu)} | "
                  f"{join([r.get('mib', 0) for r in rs])} MiB |")
        tv = rates.get(NAMES[2][1])
        if tv:
            for _, name in NAMES[:2]:
                if name in rates:
                    ratio = ", ".join(f"{a / b:.1f}×" for a, b in zip(rates[name], tv))
                    print(f"\n{name} over torchvision, round by round: {ratio}")


if __name__ == "__main__":
    main()
