"""Fine-tunes the model of this package with PyTorch DistributedDataParallel, as Secateur's trainer would.

    torchrun --nproc_per_node N finetune.py --data DIR [options]          (one machine)
    torchrun --nnodes M --node_rank R --rdzv_endpoint HOST:PORT --nproc_per_node N finetune.py ...   (many)
    python3 finetune.py --data DIR                                        (one process, no torchrun)

The recipe is Secateur's (`secateur train` / `prune --finetune-epochs`): SGD with Nesterov momentum or AdamW, one-cycle,
cosine or constant learning rate set every step, weight decay, pad-and-crop + horizontal flip augmentation, optional
label smoothing and distillation from a teacher package. --batch-size is the global batch, split evenly over the
processes, so N processes take the same number of steps per epoch as Secateur's single one. The inputs are fed as the
model's recorded preprocessing says (PREPROCESSING in model.py), the same way Secateur feeds them.

Data: a directory of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-* or test-*, as
MNIST and Fashion-MNIST ship), or an image folder (DIR/train/<class>/*.png|jpg and DIR/test/<class>/..., or val/).
A checkpoint is written after every epoch (rank 0) and --resume continues from it; rank 0 logs one JSON line per
epoch. At the end rank 0 writes the weights as safetensors for `secateur import-weights`.
"""
import argparse
import gzip
import hashlib
import importlib.util
import json
import math
import os
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def load_package(directory, name):
    """The model.py of an exported package as a module (the student here, or a teacher package)."""
    sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- preprocessing: Secateur's InputPreprocessing (Graph/InputPreprocessing.cs), applied to 8-bit images -----

def parse_preprocessing(text):
    """The compact form `range=0..1;mean=...;std=...;order=rgb;color=none;resize=stretch;layout=nchw` as a dict."""
    p = {"range": (0.0, 1.0), "mean": [], "std": [], "order": "rgb", "color": "none", "resize": ("stretch", 1.0), "layout": "nchw"}
    for part in (text or "").split(";"):
        if "=" not in part:
            continue
        key, value = (s.strip().lower() for s in part.split("=", 1))
        if key == "range":
            p["range"] = {"0..1": (0.0, 1.0), "0..255": (0.0, 255.0), "-1..1": (-1.0, 1.0)}[value]
        elif key in ("mean", "std"):
            p[key] = [float(v) for v in value.split(",") if v]
        elif key == "resize":
            p["resize"] = ("stretch", 1.0) if value == "stretch" else ("crop", float(value.split(":")[1]) if ":" in value else 1.0)
        elif key in ("order", "color", "layout"):
            p[key] = value
        else:
            raise ValueError("unknown preprocessing key %r" % key)
    return p


class Preprocess:
    """uint8 images (N, C, H, W) -> the model's input tensor, computed as Secateur's InputTransform does (same float32 steps)."""

    def __init__(self, p, channels):
        self.p, self.channels = p, channels
        lo, hi = p["range"]
        self.low, self.span = lo, hi - lo
        mean = p["mean"] or [0.0]
        std = p["std"] or [1.0]
        self.mean = torch.tensor(mean * (channels if len(mean) == 1 else 1)).view(1, -1, 1, 1)
        self.inv_std = 1 / torch.tensor(std * (channels if len(std) == 1 else 1)).view(1, -1, 1, 1)  # float32, as Secateur's

    def convert(self, x):
        """uint8 -> [0, 1] (byte / 255) with the colour conversion: what augmentation sees."""
        x = x.float() / 255
        if self.p["color"] == "gray-to-rgb" and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif self.p["color"] == "rgb-to-gray" and x.shape[1] == 3:
            x = x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114
        return x

    def __call__(self, u):
        if self.p["order"] == "bgr":
            u = u.flip(1)
        # (v - mean) * (1 / std) with v = low + span * u
        x = (self.low + self.span * u - self.mean.to(u.device)) * self.inv_std.to(u.device)
        return x.permute(0, 2, 3, 1).contiguous() if self.p["layout"] == "nhwc" else x


def augment(x, pad, generator):
    """Secateur's training augmentation: zero-pad by `pad` and crop back at a random offset, then flip half horizontally."""
    n, _, h, w = x.shape
    padded = F.pad(x, [pad, pad, pad, pad])
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


# ----- data -----

def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def find(directory, *patterns):
    for name in sorted(os.listdir(directory)):
        if any(p in name for p in patterns):
            return os.path.join(directory, name)
    return None


class Tensors(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


class Folder(torch.utils.data.Dataset):
    """DIR/<class>/<image>, classes in sorted order, each image brought to the model's size as the preprocessing says."""

    def __init__(self, root, height, width, resize):
        from PIL import Image  # only image folders need Pillow
        self.Image = Image
        self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.items = [(os.path.join(root, c, f), k) for k, c in enumerate(self.classes)
                      for f in sorted(os.listdir(os.path.join(root, c))) if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))]
        self.height, self.width, self.resize = height, width, resize

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        img = self.Image.open(path)
        img = img.convert("L") if img.mode in ("L", "I", "I;16", "1") else img.convert("RGB")
        mode, fraction = self.resize
        if mode == "crop":
            s = min(self.height, self.width) / fraction / min(img.size)
            img = img.resize((max(self.width, round(img.size[0] * s)), max(self.height, round(img.size[1] * s))), self.Image.BILINEAR)
            left, top = (img.size[0] - self.width) // 2, (img.size[1] - self.height) // 2
            img = img.crop((left, top, left + self.width, top + self.height))
        elif img.size != (self.width, self.height):
            img = img.resize((self.width, self.height), self.Image.BILINEAR)
        t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(img.size[1], img.size[0], -1)
        return t.permute(2, 0, 1), label


def load_data(directory, height, width, resize, train_limit, test_limit):
    """(train, test) datasets of uint8 (C, H, W) images and int labels."""
    if find(directory, "train-images"):
        def split(images, labels, limit):
            x, y = read_idx(images), read_idx(labels).long()
            x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
            return Tensors(x[:limit], y[:limit])
        train = split(find(directory, "train-images"), find(directory, "train-labels"), train_limit)
        test = split(find(directory, "t10k-images", "test-images"), find(directory, "t10k-labels", "test-labels"), test_limit)
        return train, test
    test_dir = next((os.path.join(directory, d) for d in ("test", "val") if os.path.isdir(os.path.join(directory, d))), None)
    if not os.path.isdir(os.path.join(directory, "train")) or test_dir is None:
        raise SystemExit("error: %s has neither IDX files (train-images-idx3-ubyte...) nor train/ and test/ (or val/) image folders" % directory)
    train, test = Folder(os.path.join(directory, "train"), height, width, resize), Folder(test_dir, height, width, resize)
    if train_limit:
        train.items = train.items[:train_limit]
    if test_limit:
        test.items = test.items[:test_limit]
    return train, test


# ----- Secateur's learning-rate schedules (Training/LearningRateSchedule.cs) -----

def learning_rate(kind, peak, step, total, warmup):
    if total <= 1 or kind == "constant":
        return peak
    if kind == "cosine":
        return peak * 0.5 * (1 + math.cos(math.pi * step / total))
    # torch.optim.lr_scheduler.OneCycleLR: div_factor 25, final_div_factor 1e4, cosine phases.
    anneal = lambda start, end, pct: end + (start - end) / 2 * (math.cos(math.pi * min(1.0, pct)) + 1)
    initial = peak / 25
    final = initial / 1e4
    warm_end, end = warmup * total - 1, total - 1
    if step <= warm_end:
        return anneal(initial, peak, 1.0 if warm_end <= 0 else step / warm_end)
    return anneal(peak, final, (step - warm_end) / (end - warm_end))


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--data", required=True, help="IDX directory or image folder with train/ and test/ (or val/)")
    a.add_argument("--weights", default=os.path.join(HERE, "weights.safetensors"), help="starting weights (default: the package's)")
    a.add_argument("--output", default=os.path.join(HERE, "tuned.safetensors"), help="where rank 0 writes the fine-tuned weights")
    a.add_argument("--epochs", type=int, default=5)
    a.add_argument("--batch-size", type=int, default=128, help="global batch, split over the processes")
    a.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    a.add_argument("--lr", type=float, default=0.01, help="peak (one-cycle) or initial learning rate")
    a.add_argument("--schedule", choices=["onecycle", "cosine", "constant"], default="cosine")
    a.add_argument("--warmup", type=float, default=0.15, help="fraction of steps warming up (one-cycle)")
    a.add_argument("--momentum", type=float, default=0.9)
    a.add_argument("--no-nesterov", action="store_true")
    a.add_argument("--weight-decay", type=float, default=5e-4)
    a.add_argument("--label-smoothing", type=float, default=0.0)
    a.add_argument("--no-augment", action="store_true")
    a.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    a.add_argument("--test-limit", type=int, default=None, help="evaluate only the first N test images")
    a.add_argument("--teacher", default=None, help="directory of a teacher package exported the same way (distillation)")
    a.add_argument("--distill-alpha", type=float, default=0.5)
    a.add_argument("--distill-temperature", type=float, default=4.0)
    a.add_argument("--preprocess", default=None, help="override the model's recorded preprocessing (Secateur's compact form)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    a.add_argument("--backend", default=None, help="torch.distributed backend (default: nccl on CUDA, else gloo)")
    a.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    a.add_argument("--workers", type=int, default=0, help="data-loading worker processes per rank")
    a.add_argument("--checkpoint", default=None, help="checkpoint written by rank 0 after every epoch")
    a.add_argument("--resume", action="store_true", help="continue from --checkpoint when it exists")
    a.add_argument("--log", default=None, help="rank 0 appends one JSON line per epoch (and a final one) here")
    a.add_argument("--print-every", type=int, default=50, help="rank 0 prints progress every N steps (0: never)")
    args = a.parse_args()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group(args.backend or ("nccl" if cuda else "gloo"))
    if args.batch_size % world:
        raise SystemExit("error: --batch-size %d does not split evenly over %d processes" % (args.batch_size, world))
    lead = rank == 0

    def log(record):
        if lead:
            print(" ".join("%s=%s" % (k, round(v, 4) if isinstance(v, float) else v) for k, v in record.items()), flush=True)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps(record) + "\n")

    torch.manual_seed(args.seed)
    package = load_package(HERE, "secateur_model")
    model = package.build(args.weights).to(device)
    name, shape = next(iter(package.INPUTS.items()))
    p = parse_preprocessing(args.preprocess or package.PREPROCESSING)
    nhwc = p["layout"] == "nhwc"
    channels, height, width = (shape[3], shape[1], shape[2]) if nhwc else (shape[1], shape[2], shape[3])
    prep = Preprocess(p, channels)
    train, test = load_data(args.data, height, width, p["resize"], args.train_limit, args.test_limit)
    pad = 2 if height <= 28 else max(2, height // 8)  # Secateur's DataSet.CropPadding
    teacher = None
    if args.teacher:
        teacher = load_package(os.path.abspath(args.teacher), "secateur_teacher").build(os.path.join(args.teacher, "weights.safetensors")).to(device).eval()

    sampler = torch.utils.data.distributed.DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size // world, sampler=sampler, num_workers=args.workers, pin_memory=cuda)
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None) if world > 1 else model
    params = list(model.parameters())
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=not args.no_nesterov and args.momentum > 0, weight_decay=args.weight_decay)
    amp = cuda and not args.no_amp
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    start, history = 0, []
    if args.resume and args.checkpoint and os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, history = state["epoch"], state["history"]
        log({"resumed": args.checkpoint, "epoch": start})
    total = args.epochs * len(loader)

    def reduce(*values):
        t = torch.tensor(values, dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def evaluate():
        """Top-1 on the whole test split: each rank takes every world-th image, the counts are summed."""
        model.eval()
        correct = seen = 0
        indices = list(range(rank, len(test), world))
        with torch.no_grad():
            for b in range(0, len(indices), 256):
                batch = [test[i] for i in indices[b:b + 256]]
                x = torch.stack([s[0] for s in batch]).to(device)
                y = torch.tensor([int(s[1]) for s in batch], device=device)
                with torch.autocast(device.type, enabled=amp):
                    logits = model(prep(prep.convert(x)))
                correct += int((logits.argmax(1) == y).sum())
                seen += len(batch)
        correct, seen = reduce(correct, seen)
        return int(correct), int(seen)

    def settle_statistics():
        """Each rank's batch-norm statistics followed its own shard; the average of the ranks' is kept by all."""
        if world > 1:
            with torch.no_grad():
                for b in model.buffers():
                    dist.all_reduce(b)
                    b /= world

    clock = time.time()
    for epoch in range(start, args.epochs):
        sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(args.seed * 1000003 + epoch * 1009 + rank)
        model.train()
        began, loss_sum, correct, seen, lr = time.time(), 0.0, 0, 0, args.lr
        for i, (x, y) in enumerate(loader):
            lr = learning_rate(args.schedule, args.lr, epoch * len(loader) + i, total, args.warmup)
            for g in optimizer.param_groups:
                g["lr"] = lr
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            x = prep.convert(x)
            if not args.no_augment:
                x = augment(x.cpu(), pad, generator).to(device)
            x = prep(x)
            with torch.autocast(device.type, enabled=amp):
                logits = ddp(x)  # (N, classes)
                loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        target = teacher(x)
                    t = args.distill_temperature
                    kl = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(target / t, 1), reduction="sum", log_target=True) / logits.shape[0]
                    loss = loss * (1 - args.distill_alpha) + kl * (args.distill_alpha * t * t)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += float(loss) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if lead and args.print_every and (i + 1) % args.print_every == 0:
                done = epoch * len(loader) + i + 1 - start * len(loader)
                rate = done / max(1e-9, time.time() - clock)
                print("epoch %d/%d step %d/%d loss %.4f acc %.2f %% lr %.4g %.0f img/s ETA %.0f min" % (
                    epoch + 1, args.epochs, i + 1, len(loader), loss_sum / seen, 100.0 * correct / seen, lr,
                    rate * args.batch_size, (total - epoch * len(loader) - i - 1) / max(1e-9, rate) / 60), flush=True)
        settle_statistics()
        loss_sum, correct, seen = reduce(loss_sum, correct, seen)
        test_correct, test_seen = evaluate()
        record = {"epoch": epoch + 1, "epochs": args.epochs, "steps": len(loader), "lr": lr, "train_loss": loss_sum / max(1, seen),
                  "train_accuracy": correct / max(1, seen), "test_accuracy": test_correct / max(1, test_seen),
                  "test_correct": test_correct, "test_count": test_seen, "seconds": time.time() - began, "processes": world,
                  "teacher": args.teacher}
        history.append(record)
        log(record)
        if lead and args.checkpoint:
            torch.save({"epoch": epoch + 1, "history": history, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict()}, args.checkpoint + ".tmp")
            os.replace(args.checkpoint + ".tmp", args.checkpoint)  # a crash mid-write leaves the last good checkpoint
        if world > 1:
            dist.barrier()

    # Every rank's weights, digested: DDP keeps them identical, and this shows it.
    digest = hashlib.sha256()
    for key, value in sorted(model.tensors().items()):
        digest.update(key.encode())
        digest.update(value.numpy().tobytes())
    digests = [None] * world
    if world > 1:
        dist.all_gather_object(digests, digest.hexdigest())
    else:
        digests = [digest.hexdigest()]
    test_correct, test_seen = evaluate()
    if lead:
        model.save_weights(args.output)
    log({"final": True, "output": args.output, "test_accuracy": test_correct / max(1, test_seen), "test_correct": test_correct,
         "test_count": test_seen, "digests": digests, "identical": len(set(digests)) == 1, "seconds": time.time() - clock})
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
