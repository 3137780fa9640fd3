"""The PyTorch peer of examples/pipeline_speed.rs (bench/gpu_pipeline.sh): the same training step,
written as a PyTorch user would. The uint8 batch goes to the device, is converted and normalised there,
mixed by timm's Mixup with DeiT's recipe (Mixup 0.8, CutMix 1.0, switch 0.5, label smoothing 0.1),
then torchvision's ResNet (weights in the chosen dtype, channels-last) runs forward and backward and SGD
with momentum steps (PyTorch's default multi-tensor form on CUDA, where tch's SGD steps each parameter).

--mode model: one batch resident on the device, stepped again and again (no loader).
--mode pipeline: torchvision ImageFolder + DataLoader (RandomResizedCrop + flip + PILToTensor, the given
workers, pinned memory, non-blocking copies), the whole pipeline. The loader alone is bench/loader_peer.py.
Prints one line with images/s.
"""
import argparse
import time

import numpy as np
import torch
from torchvision import datasets, models

import loader_peer  # bench/, the script's own folder

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["model", "pipeline"], required=True)
    ap.add_argument("--data", help="folder holding train/<class>/* (pipeline mode; in model mode only its class count)")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--arch", choices=["resnet18", "resnet50"], default="resnet50")
    ap.add_argument("--precision", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000, help="without --data")
    ap.add_argument("--workers", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    return ap.parse_args()


def make_loader(args, device):
    # torchvision's loader exactly as bench/loader_peer.py times it alone, plus what training adds.
    return loader_peer.make_loader(args.data, args.workers, args.batch_size, args.image_size,
                                   pin_memory=device.type == "cuda", drop_last=True,
                                   persistent_workers=args.workers > 0)


class Trainer:
    def __init__(self, args, device, classes):
        from timm.data import Mixup

        self.dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
        model = getattr(models, args.arch)(num_classes=classes)
        self.model = model.to(device=device, dtype=self.dtype, memory_format=torch.channels_last).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
        self.mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1,
                           num_classes=classes)
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1)

    def step(self, images, labels):
        """One step on a uint8 NCHW batch already on the device."""
        x = (images.float().div_(255) - self.mean) / self.std
        x, targets = self.mixup(x, labels)
        x = x.to(dtype=self.dtype, memory_format=torch.channels_last)
        logits = self.model(x)
        loss = torch.sum(-targets * torch.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_model(args, trainer, device, classes):
    n, s = args.batch_size, args.image_size
    images = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, device=device)
    labels = torch.randint(0, classes, (n,), device=device)
    for _ in range(args.warmup):
        trainer.step(images, labels)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.step(images, labels)
    sync(device)
    return time.perf_counter() - start


def time_pipeline(args, trainer, device, loader):
    done, start = 0, None
    while done < args.warmup + args.steps:
        for images, labels in loader:
            if done == args.warmup:
                sync(device)
                start = time.perf_counter()
            trainer.step(images.to(device, non_blocking=True), labels.to(device, non_blocking=True))
            done += 1
            if done == args.warmup + args.steps:
                break
    sync(device)
    return time.perf_counter() - start


def main():
    args = parse()
    device = torch.device(args.device)
    torch.manual_seed(0)
    np.random.seed(0)  # timm's Mixup draws from NumPy's global generator
    torch.backends.cudnn.benchmark = True
    if args.mode == "pipeline":
        if not args.data:
            raise SystemExit("data: pipeline mode needs --data DIR")
        data, loader = make_loader(args, device)
        classes = len(data.classes)
    else:
        classes = len(datasets.ImageFolder(f"{args.data}/train").classes) if args.data else args.classes
    trainer = Trainer(args, device, classes)
    if args.mode == "pipeline":
        seconds = time_pipeline(args, trainer, device, loader)
    else:
        seconds = time_model(args, trainer, device, classes)
    rate = args.steps * args.batch_size / seconds
    print(f"pytorch {args.mode} {args.arch} {args.precision} on {args.device}: {args.steps} steps of {args.batch_size} "
          f"images in {seconds:.2f} s, {rate:.0f} images/s (after {args.warmup} warm-up steps; "
          f"{args.workers if args.mode == 'pipeline' else 0} loader workers; torch {torch.__version__})")


if __name__ == "__main__":
    main()
