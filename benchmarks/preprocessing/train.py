#!/usr/bin/python3
"""Issue 17's full-data case: a typical PyTorch CNN trained the most common way, exported as a user would.

The network is the issue's "typical CNN": two conv-BN-ReLU blocks each closed by max pooling, dropout, two Linear
layers. It is trained on the FULL Fashion-MNIST (Debian's dataset-fashion-mnist, IDX .gz) with ToTensor()-style
inputs only: pixels / 255 in [0, 1], no normalisation (ToTensor() divides uint8 pixels by 255; doing it once for the
whole array is the same arithmetic, without the per-image Python overhead). Adam, batch 128, 2 threads.

It checkpoints after every epoch (resumes from the last one), writes the test accuracy of every epoch, and exports
the final model with plain torch.onnx.export (opset 13, dynamic batch) -- no Secateur metadata, as a user's file
comes.

    /usr/bin/python3 benchmarks/preprocessing/train.py OUT_DIR [EPOCHS]
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def to_tensor(images):
    # ToTensor(): uint8 HxW -> float 1xHxW in [0, 1].
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def main():
    out = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    xtr, ytr = to_tensor(idx("train-images-idx3-ubyte.gz")), torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte, yte = to_tensor(idx("t10k-images-idx3-ubyte.gz")), torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ckpt = os.path.join(out, "checkpoint.pt")
    history = []
    start = 0
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start, epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            b = perm[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
        acc = accuracy(model, xte, yte)
        history.append({"epoch": epoch + 1, "testAccuracy": acc, "seconds": round(time.time() - t0, 1)})
        print(json.dumps(history[-1]), flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": torch.get_rng_state(),
                    "history": history, "epoch": epoch + 1}, ckpt)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(out, "model.onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    result = {"framework": f"pytorch {torch.__version__}", "epochs": epochs, "preprocessing": "ToTensor() only: pixels / 255, no normalisation",
              "testImages": len(xte), "testAccuracy": accuracy(model, xte, yte), "history": history}
    with open(os.path.join(out, "pytorch.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({"testAccuracy": result["testAccuracy"]}))


if __name__ == "__main__":
    main()
