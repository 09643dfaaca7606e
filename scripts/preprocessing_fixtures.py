#!/usr/bin/python3
"""Models trained the common PyTorch way, for the input-contract tests of issue 17.

Each is a small CNN (conv-BN-ReLU-maxpool twice, dropout, two Linear layers) trained for a few epochs on the
Fashion-MNIST subset embedded in Secateur (src/Secateur/Data/Embedded, IDX format) with ToTensor()-style inputs:
pixels / 255 in [0, 1], no normalisation. They are exported to tests/Secateur.Tests/Fixtures/preprocessing/ WITHOUT
any Secateur metadata, as a user's file would come, so that Secateur has to find (or be told) what they expect:

  unit.onnx  input N x 1 x 28 x 28, [0, 1]
  nhwc.onnx  input N x 28 x 28 x 1, [0, 1]; the model permutes to NCHW itself, as Keras exports do
  bgr.onnx   input N x 3 x 28 x 28, [0, 1], channels in B, G, R order, trained on the gray images tinted
             R = g, G = g / 2, B = 0 (TINT): fed in RGB order, the model sees its blue input lit and is lost

Run (deterministic for a given torch; made with Debian 12's torch 1.13):

    /usr/bin/python3 scripts/preprocessing_fixtures.py [out_dir]

The same run prints each model's test accuracy under its own contract on the embedded test split, which the tests
compare with what Secateur reports.
"""
import gzip
import os
import struct
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

# Per-channel factors (R, G, B) that colour the gray images of the BGR model's data: the C# test writes its image
# folder with the same tint.
TINT = (1.0, 0.5, 0.0)


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Net(nn.Module):
    def __init__(self, channels=1, nhwc=False):
        super().__init__()
        self.nhwc = nhwc
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        return self.classifier(self.features(x))


def inputs(images, kind):
    """The model's contract: [0, 1] pixels, in the model's layout and channel order."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N x 1 x H x W
    if kind == "nhwc":
        return x.permute(0, 2, 3, 1).contiguous()
    if kind == "bgr":
        r, g, b = (x * t for t in TINT)
        return torch.cat([b, g, r], dim=1)
    return x


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def make(kind, train, test, out_dir, epochs=4):
    torch.manual_seed(0)
    model = Net(3 if kind == "bgr" else 1, kind == "nhwc")
    (xtr, ytr), (xte, yte) = train, test
    xtr, xte = inputs(xtr, kind), inputs(xte, kind)
    ytr, yte = torch.from_numpy(ytr.astype(np.int64)), torch.from_numpy(yte.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        model.train()
        for idx_ in torch.randperm(len(ytr), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr[idx_]), ytr[idx_]).backward()
            opt.step()
    model.eval()
    path = os.path.join(out_dir, f"{kind}.onnx")
    with torch.no_grad():
        torch.onnx.export(model, xte[:2], path, input_names=["input"], output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, training=torch.onnx.TrainingMode.EVAL,
                          do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert not any(p.key.startswith("secateur") for p in m.metadata_props)
    print(f"{kind}.onnx: {os.path.getsize(path)} bytes, test accuracy {accuracy(model, xte, yte):.4f} on {len(yte)} images")


def main(out_dir=None, repo=None):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = repo or os.path.join(here, "..")
    out_dir = out_dir or os.path.join(repo, "tests", "Secateur.Tests", "Fixtures", "preprocessing")
    os.makedirs(out_dir, exist_ok=True)
    emb = os.path.join(repo, "src", "Secateur", "Data", "Embedded")
    load = lambda split: (idx(os.path.join(emb, f"fashion-mnist-mini-{split}-images-idx3-ubyte.gz")),
                          idx(os.path.join(emb, f"fashion-mnist-mini-{split}-labels-idx1-ubyte.gz")))
    train, test = load("train"), load("t10k")
    torch.set_num_threads(1)
    for kind in ("unit", "nhwc", "bgr"):
        make(kind, train, test, out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
