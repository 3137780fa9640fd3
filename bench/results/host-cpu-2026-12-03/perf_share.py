# Reads `perf script` output; keeps the samples whose stack holds Mixer::apply_ (the timed call) and
# prints, for each function, the share of those samples in which it is on the stack (inclusive).
import collections, re, sys
events = sys.stdin.read().split("\n\n")
total, share = 0, collections.Counter()
for event in events:
    frames = [l.strip().split(None, 1) for l in event.strip().split("\n")[1:] if l.strip()]
    names = {re.sub(r"\+0x[0-9a-f]+$", "", f[1].rsplit(" (", 1)[0])[:100] for f in frames if len(f) == 2}
    if any("Mixer::apply_" in n for n in names):
        total += 1
        share.update(names)
print(f"{total} samples in Mixer::apply_")
for name, count in share.most_common(60):
    print(f"{100 * count / total:5.1f}%  {name}")
