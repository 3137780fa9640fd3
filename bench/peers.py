"""The peers tch-mixcut is measured against, timed on one device in one run: a copy of the same bytes (the
bandwidth limit), timm's `Mixup` (batch, pair, elem; Mixup, and CutMix with a box of about half the image
as the crate's benches use), timm's `FastCollateMixup` (uint8 collation, CPU), and torchvision's
`transforms.v2` `MixUp` / `CutMix`.

Each figure is the median over `--reps` samples of the time per call in a run of back-to-back calls
(ended by one synchronisation on a GPU), the way benches/gpu.rs and benches/mix.rs time the crate.
A peer that refuses an input prints `refused` with its error. Without a GPU (`--device cuda`) or without
torch it prints why and exits 0, or 1 when TCH_MIXCUT_REQUIRE_GPU=1.

    python bench/peers.py --device cuda           # the GPU kit (bench/gpu_bench.sh)
    python bench/peers.py --device cpu --shapes 256x3x112x112,128x3x32x32 --all-dtypes   # bench/cpu_run.sh
"""
import argparse
import os
import statistics
import sys
import time

REQUIRED = os.environ.get("TCH_MIXCUT_REQUIRE_GPU") == "1"


def bail(why):
    print(f"no GPU: peers skipped: {why}" if "GPU" in why or "CUDA" in why else f"peers skipped: {why}")
    sys.exit(1 if REQUIRED else 0)


try:
    import torch
except ImportError as e:  # a machine without python torch (a CPU dry run of the kit)
    bail(f"no torch in {sys.executable}: {e}")


def per_call_ms(fn, device, calls, reps, warmup=2):
    """Median over `reps` of (time of `calls` back-to-back calls) / calls, in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / calls)
        else:
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - t0) * 1e3 / calls)
    return statistics.median(samples)


def batch(shape, dtype, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8).to(device)
    return torch.rand(shape, generator=g).to(device=device, dtype=dtype)


def peers(x, y, classes, device):
    """(label, callable) pairs for one input batch."""
    rows = []
    dst = torch.empty_like(x)
    rows.append(("copy", lambda: dst.copy_(x)))
    try:
        from timm.data import FastCollateMixup, Mixup
    except ImportError as e:
        rows.append(("timm", e))
        Mixup = FastCollateMixup = None
    if Mixup is not None:
        for mode in ["batch", "pair", "elem"]:
            m = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode=mode, label_smoothing=0.0, num_classes=classes)
            rows.append((f"timm Mixup {mode}", lambda m=m: m(x, y)))  # mixes x in place
        if x.dim() == 4:
            # Box sides 0.70-0.72 of the image: about half its area (λ ≈ 0.5), as the crate's CutMix benches.
            # (timm draws sides with randint(int(0.70·H), int(0.72·H)), which needs two distinct ints: 0.71
            # gave none at 32×32.)
            for mode in ["batch", "elem"]:
                c = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=(0.70, 0.72), mode=mode, num_classes=classes)
                rows.append((f"timm CutMix {mode}", lambda c=c: c(x, y)))
            # Sides 0.31-0.33: about a tenth of the area (the crate's cutmix_box10 case).
            c = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=(0.31, 0.33), mode="batch", num_classes=classes)
            rows.append(("timm CutMix batch box10", lambda c=c: c(x, y)))
        if device.type == "cpu" and x.dtype == torch.uint8 and x.dim() == 4:
            # timm's uint8 path: mixes while collating numpy images into the batch tensor.
            items = [(img, int(t)) for img, t in zip(x.numpy(), y.tolist())]
            for mode in ["batch", "elem"]:
                f = FastCollateMixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode=mode, label_smoothing=0.0, num_classes=classes)
                rows.append((f"timm FastCollateMixup {mode}", lambda f=f: f(items)))
    try:
        from torchvision.transforms import v2
    except ImportError as e:
        rows.append(("torchvision", e))
    else:
        mu, cm = v2.MixUp(num_classes=classes), v2.CutMix(num_classes=classes)
        rows.append(("torchvision MixUp", lambda: mu(x, y)))
        if x.dim() == 4:
            rows.append(("torchvision CutMix", lambda: cm(x, y)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--shapes", default="256x3x224x224,128x3x32x32,256x1x16000")
    ap.add_argument("--dtypes", default="float32,bfloat16,uint8", help="for the first shape; the others run float32")
    ap.add_argument("--all-dtypes", action="store_true", help="run --dtypes for every shape (the CPU run)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--budget-ms", type=float, default=300.0, help="about how long one sample runs")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        bail("torch sees no CUDA device")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    versions = [f"torch {torch.__version__}"]
    for mod in ["timm", "torchvision"]:
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} missing")
    print(f"device {name}; {', '.join(versions)}; median of {args.reps} samples, ms per call")
    shapes = [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]
    for k, shape in enumerate(shapes):
        dtypes = args.dtypes.split(",") if k == 0 or args.all_dtypes else ["float32"]
        for dtype_name in dtypes:
            dtype = getattr(torch, dtype_name)
            x = batch(shape, dtype, device)
            y = torch.randint(0, args.classes, (shape[0],), device=device)
            case = "x".join(map(str, shape)) + " " + dtype_name
            for label, fn in peers(x, y, args.classes, device):
                if isinstance(fn, Exception):
                    print(f"{case:28s} {label:30s} missing: {fn}")
                    continue
                try:
                    one = per_call_ms(fn, device, calls=1, reps=1, warmup=1)
                    calls = max(1, min(200, int(args.budget_ms / max(one, 1e-3))))
                    ms = per_call_ms(fn, device, calls=calls, reps=args.reps)
                    print(f"{case:28s} {label:30s} {ms:10.3f} ms")
                except Exception as e:  # a peer refusing a dtype is a result, not a crash
                    print(f"{case:28s} {label:30s} refused: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
