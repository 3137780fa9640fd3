"""Times the peers tch-mixcut is measured against, on the same GPU: timm's Mixup (batch, pair, elem;
Mixup and CutMix) and torchvision's transforms.v2 MixUp / CutMix, beside a plain device copy (the
bandwidth limit). Median of CUDA-event timings, milliseconds per call. Run by bench/gpu_run.sh."""
import statistics

import torch

try:
    from timm.data import Mixup
except ImportError:  # pragma: no cover
    Mixup = None
try:
    from torchvision.transforms import v2
except ImportError:  # pragma: no cover
    v2 = None


def time_ms(fn, reps=30, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    dev = torch.device("cuda")
    print(f"device {torch.cuda.get_device_name()} torch {torch.__version__}")
    for shape in [(256, 3, 224, 224), (128, 3, 32, 32)]:
        for dtype in [torch.float32, torch.bfloat16]:
            x = torch.rand(shape, device=dev).to(dtype)
            y = torch.randint(0, 1000, (shape[0],), device=dev)
            dst = torch.empty_like(x)
            rows = [("copy", lambda: dst.copy_(x))]
            if Mixup is not None:
                for mode in ["batch", "pair", "elem"]:
                    m = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode=mode, num_classes=1000)
                    rows.append((f"timm Mixup {mode}", lambda m=m: m(x, y)))  # timm mixes x in place
                    c = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=(0.6, 0.8), mode=mode, num_classes=1000)
                    rows.append((f"timm CutMix {mode}", lambda c=c: c(x, y)))
            if v2 is not None:
                mu, cm = v2.MixUp(num_classes=1000), v2.CutMix(num_classes=1000)
                rows.append(("torchvision MixUp", lambda: mu(x, y)))
                rows.append(("torchvision CutMix", lambda: cm(x, y)))
            name = "x".join(map(str, shape)) + " " + str(dtype).replace("torch.", "")
            for label, fn in rows:
                print(f"{name:28s} {label:22s} {time_ms(fn):9.3f} ms")


if __name__ == "__main__":
    main()
