"""NVIDIA DALI's CPU pipeline over the same folder as the Rust loader (bench/loader_speed.sh), as DALI's
ImageNet examples build it: file reader (shuffled), decoding with a random crop of the same ranges as
RandomResizedCrop (area 0.08-1, ratio 3/4-4/3; DALI decodes only the crop's region), resize to the output
size, horizontal flip with probability 1/2; uint8 HWC output, batch 256, the given number of threads.
Prints images/s for one pass, in all and per thread. Runs without a GPU (device_id=None).
"""
import argparse
import time

from nvidia.dali import fn, pipeline_def, types


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="folder holding train/<class>/*")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    args = ap.parse_args()

    @pipeline_def(batch_size=args.batch_size, num_threads=args.workers, device_id=None, seed=0)
    def imagenet():
        jpegs, labels = fn.readers.file(file_root=f"{args.data}/train", random_shuffle=True, name="reader")
        images = fn.decoders.image_random_crop(
            jpegs, device="cpu", output_type=types.RGB, random_area=[0.08, 1.0], random_aspect_ratio=[0.75, 4 / 3]
        )
        images = fn.resize(images, resize_x=args.image_size, resize_y=args.image_size)
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=0.5))
        return images, labels

    pipe = imagenet()
    pipe.build()
    n = pipe.epoch_size("reader")
    start = time.perf_counter()
    images, first, after_first = 0, None, 0
    while images < n:
        out, _ = pipe.run()
        batch = min(len(out), n - images)
        if first is None:
            first = time.perf_counter()
        else:
            after_first += batch
        images += batch
    end = time.perf_counter()
    rate = images / (end - start)
    print(
        f"DALI CPU pipeline, {args.workers} threads: {images} images in {end - start:.2f} s, {rate:.0f} images/s, "
        f"{rate / args.workers:.0f} per thread ({after_first / (end - first):.0f} images/s after the first batch)"
    )


if __name__ == "__main__":
    main()
