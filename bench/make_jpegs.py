"""Writes an ImageNet-layout folder of JPEGs for the loader benchmark (bench/loader_speed.sh).

Each picture is a mosaic of tinted, upscaled Fashion-MNIST images with mild noise, at an ImageNet-like
size (400-500 x 300-400 pixels, either orientation), JPEG quality 90; 10 classes, N training and N/20
val images. Needs Pillow and NumPy. Fashion-MNIST is read from --fashion-mnist (gzipped IDX files).
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image


def load_images(folder):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


def picture(rng, tiles):
    w, h = int(rng.integers(400, 501)), int(rng.integers(300, 401))
    if rng.random() < 0.3:
        w, h = h, w
    canvas = np.zeros((h, w, 3), dtype=np.float32)
    side = int(rng.integers(90, 140))
    for y in range(0, h, side):
        for x in range(0, w, side):
            tile = Image.fromarray(tiles[rng.integers(len(tiles))]).resize((side, side), Image.BILINEAR)
            tint = rng.uniform(0.3, 1.0, size=3)
            block = np.asarray(tile, dtype=np.float32)[:, :, None] * tint
            canvas[y:y + side, x:x + side] = block[: h - y, : w - x]
    canvas += rng.normal(0, 8, size=canvas.shape)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--fashion-mnist", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()
    tiles = load_images(args.fashion_mnist)
    rng = np.random.default_rng(0)
    total = 0
    for split, n in (("train", args.n), ("val", max(args.n // 20, 10))):
        for i in range(n):
            folder = os.path.join(args.out, split, f"class{i % 10}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{i:06d}.jpg")
            picture(rng, tiles).save(path, quality=90)
            total += os.path.getsize(path)
    print(f"wrote {args.n} training and {max(args.n // 20, 10)} val JPEGs to {args.out}, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
