#!/usr/bin/env python3
"""Generate the small Fashion-MNIST subset embedded in Secateur (src/Secateur/Data/Embedded/).

Why: the CLI and tests need a real, offline data set that loads in milliseconds, so a
balanced slice of Fashion-MNIST ships inside the assembly as IDX .gz resources.

Selection rule (deterministic, no randomness):
  * train: from the official train-*-idx?-ubyte files, walk the images in file order and keep
    an image if fewer than TRAIN_PER_CLASS (300) images of its class have been kept so far;
    stop once every class has 300. Result: 3,000 images, 300 per class.
  * test:  the same rule over the official t10k-* files with TEST_PER_CLASS (100).
    Result: 1,000 images, 100 per class.
  Kept images stay in their original relative order (classes are therefore interleaved
  exactly as in the source files, not sorted).

Output: standard IDX files (magic 0x00000803 images N x 28 x 28 u8, 0x00000801 labels N u8),
gzip level 9 with mtime 0 and no file name so the bytes are reproducible:
  fashion-mnist-mini-train-images-idx3-ubyte.gz, fashion-mnist-mini-train-labels-idx1-ubyte.gz,
  fashion-mnist-mini-t10k-images-idx3-ubyte.gz,  fashion-mnist-mini-t10k-labels-idx1-ubyte.gz

Usage: python3 scripts/make-embedded-fashion-mnist.py [SOURCE_DIR] [OUT_DIR]
  SOURCE_DIR defaults to /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist),
  OUT_DIR to src/Secateur/Data/Embedded relative to the repository root.
Plain python3 standard library only.
"""
import gzip
import os
import struct
import sys

TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
CLASSES = 10
PREFIX = "fashion-mnist-mini-"


def read_maybe_gz(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def find(src, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(src, name)
        if os.path.exists(p):
            return p
    sys.exit(f"error: neither {stem}.gz nor {stem} found in {src}")


def read_images(path):
    data = read_maybe_gz(path)
    magic, n, h, w = struct.unpack(">IIII", data[:16])
    if magic != 0x00000803:
        sys.exit(f"error: {path}: bad magic 0x{magic:08x}")
    if len(data) != 16 + n * h * w:
        sys.exit(f"error: {path}: expected {16 + n * h * w} bytes, got {len(data)}")
    size = h * w
    return [data[16 + i * size:16 + (i + 1) * size] for i in range(n)], h, w


def read_labels(path):
    data = read_maybe_gz(path)
    magic, n = struct.unpack(">II", data[:8])
    if magic != 0x00000801:
        sys.exit(f"error: {path}: bad magic 0x{magic:08x}")
    if len(data) != 8 + n:
        sys.exit(f"error: {path}: expected {8 + n} bytes, got {len(data)}")
    return list(data[8:])


def select(labels, per_class):
    kept, counts = [], [0] * CLASSES
    for i, label in enumerate(labels):
        if counts[label] < per_class:
            counts[label] += 1
            kept.append(i)
            if len(kept) == per_class * CLASSES:
                break
    if any(c != per_class for c in counts):
        sys.exit(f"error: source has too few images per class: {counts}")
    return kept


def write_gz(path, payload):
    # mtime=0 and no embedded file name: identical input gives identical bytes.
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(payload)


def make(src, out, split, per_class):
    images, h, w = read_images(find(src, f"{split}-images-idx3-ubyte"))
    labels = read_labels(find(src, f"{split}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        sys.exit(f"error: {split}: {len(images)} images but {len(labels)} labels")
    kept = select(labels, per_class)
    img_path = os.path.join(out, f"{PREFIX}{split}-images-idx3-ubyte.gz")
    lbl_path = os.path.join(out, f"{PREFIX}{split}-labels-idx1-ubyte.gz")
    write_gz(img_path, struct.pack(">IIII", 0x00000803, len(kept), h, w) + b"".join(images[i] for i in kept))
    write_gz(lbl_path, struct.pack(">II", 0x00000801, len(kept)) + bytes(labels[i] for i in kept))
    for p in (img_path, lbl_path):
        print(f"{p}: {os.path.getsize(p)} bytes")


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "src", "Secateur", "Data", "Embedded")
    os.makedirs(out, exist_ok=True)
    make(src, out, "train", TRAIN_PER_CLASS)
    make(src, out, "t10k", TEST_PER_CLASS)


if __name__ == "__main__":
    main()
