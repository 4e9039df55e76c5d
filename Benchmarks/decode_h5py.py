#!/usr/bin/env python3
"""The job of `kd decode` on a CIFAR-10 binary folder, done with numpy + h5py, for comparison.

    python3 decode_h5py.py cifar-10-batches-bin OUT.h5 [--deflate 1]

Reads the six record files, splits labels from pixels, and writes the same layout as kd:
/train/images and /test/images uint8 [N,3,32,32] in chunks of 341 images (~1 MiB) with
deflate, /train/labels and /test/labels uint8 [N] (chunks of up to 65536, deflate 9), the class
names and the SHA-256 of each source file as root attributes. Prints the seconds taken.
"""
import argparse
import hashlib
import os
import time

import h5py
import numpy as np

RECORD = 3073
CHUNK_IMAGES = (1 << 20) // 3072  # what kd uses: at most HDF5's 1 MiB default chunk cache


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("out")
    parser.add_argument("--deflate", type=int, default=1, help="zlib level for images (kd uses 1)")
    args = parser.parse_args()
    started = time.perf_counter()
    splits = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
    sources, digests = [], []
    with h5py.File(args.out, "w", libver=("v108", "v108")) as f:
        for split, names in splits.items():
            records = []
            for name in names:
                raw = open(os.path.join(args.folder, name), "rb").read()
                sources.append(name)
                digests.append(hashlib.sha256(raw).hexdigest())
                records.append(np.frombuffer(raw, np.uint8).reshape(-1, RECORD))
            records = np.concatenate(records)
            n = len(records)
            g = f.create_group(split)
            g.create_dataset("images", data=records[:, 1:].reshape(n, 3, 32, 32),
                             chunks=(min(n, CHUNK_IMAGES), 3, 32, 32), compression="gzip",
                             compression_opts=args.deflate)
            g.create_dataset("labels", data=records[:, 0].copy(), chunks=(min(n, 65536),),
                             compression="gzip", compression_opts=9)
        classes = [line.strip() for line in open(os.path.join(args.folder, "batches.meta.txt")) if line.strip()]
        f.attrs["kd_kind"] = "dataset"
        f.attrs["format"] = "cifar10"
        f.attrs["classes"] = classes
        f.attrs["source"] = sources
        f.attrs["source_sha256"] = digests
        f.attrs["image_shape"] = np.array([3, 32, 32], np.int64)
    print(f"h5py+numpy decoded {args.folder} -> {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
