"""Writes an ImageNet-layout folder of JPEGs for the loader benchmark (bench/loader_speed.sh).

ImageNet-like files: 400-500 x 300-400 pixels (either orientation; --scale multiplies both), JPEG quality 90,
--classes classes (default 10), N training and N/20 val images (at least one a class), written by --jobs
processes, each picture drawn from its own seed. The content is photographic where scikit-image is
installed: random crops (a quarter to all of the area) of the sample photographs it bundles, rescaled to
the output size and mirrored at random. Otherwise each picture is a mosaic of tinted, upscaled Fashion-MNIST images with mild
noise (read from --fashion-mnist, gzipped IDX files). Needs Pillow and NumPy.
"""
import argparse
import gzip
import multiprocessing
import os

import numpy as np
from PIL import Image

# scikit-image's bundled colour photographs (no download needed).
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "motorcycle_left"]


def load_photos():
    try:
        from skimage import data
    except ImportError:
        return []
    photos = []
    for name in PHOTOS:
        try:
            image = getattr(data, name)()
        except Exception:  # noqa: BLE001 - a photo that needs a download is left out
            continue
        if image.ndim == 3 and image.shape[2] >= 3:
            photos.append(Image.fromarray(np.ascontiguousarray(image[:, :, :3])))
    return photos


SCALE = 1


def size(rng):
    w, h = int(rng.integers(400, 501)) * SCALE, int(rng.integers(300, 401)) * SCALE
    return (h, w) if rng.random() < 0.3 else (w, h)


def photo(rng, photos):
    w, h = size(rng)
    src = photos[rng.integers(len(photos))]
    sw, sh = src.size
    area = rng.uniform(0.25, 1.0) * sw * sh
    cw = int(min(sw, np.sqrt(area * w / h)))
    ch = int(min(sh, cw * h / w))
    left, top = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    out = src.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BICUBIC)
    return out.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def load_tiles(folder):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


def mosaic(rng, tiles):
    w, h = size(rng)
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


# Set in main() before the worker processes fork: how one picture is drawn, the output folder, the class count.
MAKE, OUT, CLASSES = None, None, 10


def write(job):
    """Writes one file; its picture is drawn from its own seed (split, index), whatever the process."""
    split, i = job
    rng = np.random.default_rng((0 if split == "train" else 1, i))
    path = os.path.join(OUT, split, f"class{i % CLASSES}", f"{i:06d}.JPEG")
    MAKE(rng).save(path, quality=90)
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=1, help="processes writing files")
    ap.add_argument("--fashion-mnist", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--scale", type=int, default=1, help="multiply both sides by this (large photographs)")
    args = ap.parse_args()
    global SCALE, MAKE, OUT, CLASSES
    SCALE, OUT, CLASSES = args.scale, args.out, args.classes
    photos = load_photos()
    if photos:
        kind, MAKE = f"photographs (crops of {len(photos)} scikit-image samples)", lambda rng: photo(rng, photos)
    else:
        tiles = load_tiles(args.fashion_mnist)
        kind, MAKE = "Fashion-MNIST mosaics (scikit-image not installed)", lambda rng: mosaic(rng, tiles)
    n_val = max(args.n // 20, CLASSES)
    jobs = [(split, i) for split, n in (("train", args.n), ("val", n_val)) for i in range(n)]
    for split, c in {(split, i % CLASSES) for split, i in jobs}:
        os.makedirs(os.path.join(OUT, split, f"class{c}"), exist_ok=True)
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            total = sum(pool.imap_unordered(write, jobs, chunksize=32))
    else:
        total = sum(map(write, jobs))
    print(f"wrote {args.n} training and {n_val} val JPEGs ({kind}) in {CLASSES} classes, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
