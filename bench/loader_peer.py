"""torchvision's ImageFolder + DataLoader over the same folder and transforms as the Rust loader
(bench/loader_speed.sh): RandomResizedCrop(size) + RandomHorizontalFlip() + PILToTensor() (uint8, as the
Rust loader's batches), shuffled, batch 256, the given number of workers. Prints images/s for one pass,
in all and per worker.
"""
import argparse
import time

import torch
from torchvision import datasets, transforms


def make_loader(data, workers, batch_size, image_size, **options):
    """The folder's training split and torchvision's loader over it, shuffled, with the Rust loader's
    transforms; `options` go to the DataLoader (pinned memory, drop_last, ...)."""
    tf = transforms.Compose([transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(), transforms.PILToTensor()])
    folder = datasets.ImageFolder(f"{data}/train", transform=tf)
    return folder, torch.utils.data.DataLoader(folder, batch_size=batch_size, shuffle=True, num_workers=workers, **options)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="folder holding train/<class>/*")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    args = ap.parse_args()
    torch.manual_seed(0)
    _, loader = make_loader(args.data, args.workers, args.batch_size, args.image_size)
    start = time.perf_counter()
    images, first = 0, None
    for x, _ in loader:
        if first is None:
            first = time.perf_counter()
            after_first = -x.shape[0]
        images += x.shape[0]
        after_first += x.shape[0]
    end = time.perf_counter()
    rate = images / (end - start)
    print(
        f"torchvision ImageFolder + DataLoader (PIL), {args.workers} workers: {images} images in {end - start:.2f} s, "
        f"{rate:.0f} images/s, {rate / args.workers:.0f} per worker "
        f"({after_first / (end - first):.0f} images/s after the first batch)"
    )


if __name__ == "__main__":
    main()
