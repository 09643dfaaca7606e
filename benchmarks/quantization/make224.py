"""Writes a class-folder image set (DIR/train/cN/*.png, DIR/test/cN/*.png) of Fashion-MNIST upscaled to 224x224 RGB:
calibration and test images for an ImageNet-shaped model where no ImageNet is installed (latency benchmarks only).
Usage: make224.py DIR TRAIN TEST"""
import gzip, os, sys
import numpy as np
from PIL import Image

out, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
src = "/usr/share/datasets/fashion-mnist/"
for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
    images = np.frombuffer(gzip.open(f"{src}{prefix}-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(f"{src}{prefix}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    for i in range(n):
        d = os.path.join(out, split, f"c{labels[i]}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(images[i]).resize((224, 224), Image.BILINEAR).convert("RGB").save(os.path.join(d, f"{i}.png"))
