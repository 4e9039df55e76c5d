#!/usr/bin/env python3
"""Writes a CIFAR-10-sized binary dataset of synthetic images, for timing `kd decode`.

    python3 make_cifar10_like.py OUT_DIR [--records-per-batch 10000] [--tar-gz]

OUT_DIR/cifar-10-batches-bin/ gets data_batch_1..5.bin, test_batch.bin (10,000 records of
1 label byte + 3072 pixel bytes each, like the real files) and batches.meta.txt; with
--tar-gz also OUT_DIR/cifar-10-binary.tar.gz. The images are smooth random fields plus noise,
tuned so deflate shrinks them about as much as it shrinks real CIFAR-10 (the official
archive is 163 MB for 184 MB of records, ratio 0.89): random bytes would not compress at all
and would make deflate look slower and less useful than it is on real data.
"""
import argparse
import os
import tarfile

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def images(rng, n):
    # 8×8 random colour fields around mid-grey, blown up to 32×32 and smoothed, plus noise.
    base = rng.normal(120, 35, (n, 3, 8, 8)).astype(np.float32)
    up = base.repeat(4, 2).repeat(4, 3)
    smooth = (up + np.roll(up, 1, 2) + np.roll(up, 1, 3) + np.roll(np.roll(up, 1, 2), 1, 3)) / 4
    return np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--records-per-batch", type=int, default=10000)
    parser.add_argument("--tar-gz", action="store_true")
    args = parser.parse_args()
    folder = os.path.join(args.out, "cifar-10-batches-bin")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(2024)
    n = args.records_per_batch
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        records = np.empty((n, 3073), np.uint8)
        records[:, 0] = rng.integers(0, 10, n)
        records[:, 1:] = images(rng, n).reshape(n, 3072)
        records.tofile(os.path.join(folder, name))
    with open(os.path.join(folder, "batches.meta.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n\n")
    if args.tar_gz:
        with tarfile.open(os.path.join(args.out, "cifar-10-binary.tar.gz"), "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-bin")


if __name__ == "__main__":
    main()
