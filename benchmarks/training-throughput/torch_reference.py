#!/usr/bin/env python3
"""PyTorch-for-Python side of the training-throughput benchmark.

Trains the protocol's ResNet-20 or MobileNetV2 (1x28x28, 10 classes) on real Fashion-MNIST batches
(batch 128, SGD momentum 0.9 Nesterov, wd 5e-4, pad-crop + flip augmentation done on the fly, as
Secateur's trainer does) and prints one JSON line with images/s. Uses Debian's python3-torch.

usage: torch_reference.py MODEL BATCHES [--threads N] [--data-dir DIR] [--profile]
  --profile adds the per-phase breakdown of the measured batches (manual perf_counter timers: CPU ops are
  synchronous) to the JSON line and prints its table and torch's parallel settings to stderr.
"""
import argparse, gzip, json, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic, n = struct.unpack('>II', data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack('>II', data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, w in enumerate([16, 32, 64]):
            for j in range(3):
                layers.append(BasicBlock(cin, w, 2 if i > 0 and j == 0 else 1)); cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = []
        if t != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        layers = [nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t)); cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('model', choices=['resnet20', 'mobilenetv2'])
    p.add_argument('batches', type=int)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--data-dir', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--profile', action='store_true')
    p.add_argument('--eval', action='store_true', help='measure torch.no_grad() evaluation (batch 256, test images, loss + top-1 + top-5)')
    p.add_argument('--precision', choices=['fp32', 'bf16'], default='fp32', help='bf16: torch.autocast("cpu", torch.bfloat16)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    images = load_idx(os.path.join(a.data_dir, 'train-images-idx3-ubyte.gz'))
    labels = load_idx(os.path.join(a.data_dir, 'train-labels-idx1-ubyte.gz')).astype(np.int64)
    model = ResNet20() if a.model == 'resnet20' else MobileNetV2()
    autocast = torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.precision == 'bf16')
    suffix = ', bf16 autocast' if a.precision == 'bf16' else ''
    if a.eval:
        test = load_idx(os.path.join(a.data_dir, 't10k-images-idx3-ubyte.gz'))
        test_labels = torch.from_numpy(load_idx(os.path.join(a.data_dir, 't10k-labels-idx1-ubyte.gz')).astype(np.int64))
        model.eval()
        stats = [0.0, 0, 0]

        def evaluate(k):
            x = torch.from_numpy((test[k * 256:(k + 1) * 256].astype(np.float32)[:, None] / 255.0 - 0.2860) / 0.3530)
            y = test_labels[k * 256:(k + 1) * 256]
            with torch.no_grad(), autocast:
                logits = model(x).float()
                stats[0] += F.cross_entropy(logits, y, reduction='sum').item()
                hits = logits.topk(5, 1).indices.eq(y[:, None])
                stats[1] += hits[:, 0].sum().item()
                stats[2] += hits.any(1).sum().item()

        for k in range(a.warmup):
            evaluate(k)
        start, cpu = time.perf_counter(), time.process_time()
        for k in range(a.batches):
            evaluate(a.warmup + k)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(json.dumps({'runtime': f'pytorch eval {torch.__version__}{suffix}', 'model': a.model, 'threads': a.threads, 'batch': 256,
                          'batches': a.batches, 'seconds': round(seconds, 3), 'imagesPerSecond': round(a.batches * 256 / seconds, 1),
                          'cpuMsPerImage': round(cpu * 1000 / (a.batches * 256), 3)}))
        return
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    mean, std = 0.2860, 0.3530

    def batch(k):
        idx = order[(k * 128) % len(order):][:128]
        x = images[idx].astype(np.float32) / 255.0
        x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
        out = np.empty((len(idx), 28, 28), np.float32)
        for i in range(len(idx)):
            dy, dx = rng.integers(0, 5, 2)
            img = x[i, dy:dy + 28, dx:dx + 28]
            out[i] = img[:, ::-1] if rng.random() < 0.5 else img
        return torch.from_numpy((out[:, None] - mean) / std), torch.from_numpy(labels[idx])

    phases = {n: 0.0 for n in ['data', 'zero-grad', 'forward', 'loss', 'backward', 'optimizer']}

    def step(k, measure=False):
        t0 = time.perf_counter()
        x, y = batch(k)
        t1 = time.perf_counter()
        opt.zero_grad()
        t2 = time.perf_counter()
        with autocast:
            out = model(x)
        t3 = time.perf_counter()
        loss = F.cross_entropy(out.float(), y)
        t4 = time.perf_counter()
        loss.backward()
        t5 = time.perf_counter()
        opt.step()
        t6 = time.perf_counter()
        if measure:
            for n, a, b in zip(phases, [t0, t1, t2, t3, t4, t5], [t1, t2, t3, t4, t5, t6]):
                phases[n] += b - a

    for k in range(a.warmup):
        step(k)
    start, cpu = time.perf_counter(), time.process_time()
    for k in range(a.batches):
        step(a.warmup + k, a.profile)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    row = {'runtime': f'pytorch {torch.__version__}{suffix}', 'model': a.model, 'threads': a.threads, 'batch': 128,
           'batches': a.batches, 'seconds': round(seconds, 3), 'imagesPerSecond': round(a.batches * 128 / seconds, 1),
           'cpuMsPerImage': round(cpu * 1000 / (a.batches * 128), 3)}
    if a.profile:
        row['phasesMsPerBatch'] = {n: round(v * 1000 / a.batches, 2) for n, v in phases.items()}
        lines = [f'{a.model}, {a.threads} thread(s), pytorch {torch.__version__}:', '| phase | ms / batch | share |', '|---|---|---|']
        lines += [f'| {n} | {v * 1000 / a.batches:.2f} | {v / seconds:.1%} |' for n, v in phases.items()]
        rest = seconds - sum(phases.values())
        lines += [f'| (unaccounted) | {rest * 1000 / a.batches:.2f} | {rest / seconds:.1%} |',
                  f'| **total** | {seconds * 1000 / a.batches:.2f} | {a.batches * 128 / seconds:.1f} img/s |']
        print('\n'.join(lines), file=sys.stderr)
        print(torch.__config__.parallel_info(), file=sys.stderr)
    print(json.dumps(row))


if __name__ == '__main__':
    main()
