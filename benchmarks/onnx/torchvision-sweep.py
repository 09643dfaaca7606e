#!/usr/bin/python3
"""Every torchvision classification and segmentation model builder, exported with random weights and tried with Secateur.

For each builder of torchvision.models.* and torchvision.models.segmentation.* (torchvision 0.14 has no list_models, so
the builders are the public functions of those modules that take a `weights` argument), this exports the model in eval
mode with random weights at a small input where the architecture allows (dynamic batch, opset 13 or the lowest that
exports it), then runs `secateur inspect --json` and `secateur prune --dry-run --speedup 2 --json`, and records: export
ok, import ok, prunable and blocked groups, the blocked reasons (most frequent first), or the first line of the error.
Giant models (over --max-params parameters) are skipped with the reason. Each step has a time cap, and so has the run.

Usage: benchmarks/onnx/torchvision-sweep.py SECATEUR [--out results/torchvision-sweep.md] [--cap-seconds 2400]
  SECATEUR: the secateur executable (e.g. src/Secateur.Cli/bin/Release/net10.0/Secateur.Cli)
"""
import argparse, collections, inspect, json, os, re, subprocess, sys, tempfile, time

import torch
import torchvision
import torchvision.models as tvm
import torchvision.models.segmentation as tvs

# Architectures that need a particular input size: the vision transformers fix it (positional embeddings), Swin and MaxViT
# need multiples of their window/patch grid, AlexNet's adaptive pooling exports only when 6×6 divides its features (224),
# the rest take anything their downsampling leaves positive at 64 (or 96).
NEEDS_224 = re.compile(r"^(vit_|swin_|maxvit|alexnet)")
NEEDS_96 = re.compile(r"^(inception_v3|googlenet|alexnet|squeezenet|mnasnet|regnet_.*gf|efficientnet_v2)")


def builders():
    seen = set()
    for module, family in ((tvm, "classification"), (tvs, "segmentation")):
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("_") or not inspect.isfunction(fn) or name in seen:
                continue
            if not fn.__module__.startswith(module.__name__):
                continue
            if "weights" not in inspect.signature(fn).parameters:
                continue
            seen.add(name)
            yield family, name, fn


def input_size(name, family):
    if NEEDS_224.match(name):
        return 224
    if family == "segmentation":
        return 96
    if name.startswith("inception_v3"):
        return 299 // 3  # 99: inception's stem needs about 75 pixels
    return 96 if NEEDS_96.match(name) else 64


def export(fn, name, family, path, max_params):
    torch.manual_seed(0)
    kwargs = {"weights": None}
    if family == "segmentation":
        kwargs["weights_backbone"] = None
        kwargs["aux_loss"] = False
    if name.startswith(("googlenet", "inception_v3")):
        kwargs.update(aux_logits=False, init_weights=False)
    model = fn(**kwargs).eval()
    params = sum(p.numel() for p in model.parameters())
    if params > max_params:
        return params, None, f"skipped: {params / 1e6:.0f}M parameters (over {max_params / 1e6:.0f}M)"
    size = input_size(name, family)
    x = torch.randn(1, 3, size, size)

    class Plain(torch.nn.Module):  # segmentation models return a dict: export its 'out' tensor
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)["out"]

    wrapped = Plain(model) if family == "segmentation" else model
    last = None
    for opset in (13, 14, 16, 17):
        try:
            # Not under no_grad: torch 1.13's MultiheadAttention takes its fused fast path (which does not export) when
            # grad is off in eval mode; with grad on it runs (and exports) the plain ops.
            torch.onnx.export(wrapped, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
            return params, (size, opset), None
        except Exception as e:  # noqa: BLE001 - an exporter failure is a result to record
            last = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return params, None, f"export failed (torch {torch.__version__}): {last}"


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s"


def first_error(rc, err):
    if rc is None:
        return err
    lines = [l.strip() for l in err.splitlines() if l.strip()]
    return (lines[0] if lines else f"exit {rc}")[:300]


def shorten(reason):
    # Node names vary per model: keep the shape of the reason, not the names, so that reasons count across groups.
    return re.sub(r"'[^']*'", "'…'", reason)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("secateur")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "torchvision-sweep.md"))
    ap.add_argument("--cap-seconds", type=float, default=2400)
    ap.add_argument("--step-seconds", type=float, default=240)
    ap.add_argument("--max-params", type=float, default=100e6)
    ap.add_argument("--only", default=None, help="regular expression: only builders whose name matches")
    ap.add_argument("--fallback", nargs=2, metavar=("JSONL", "LABEL"), default=None,
                    help="rows of another build's run for the models this one did not reach, marked ‡ and described by LABEL")
    ap.add_argument("--resume", default=None, help="a .jsonl of an earlier run with the same secateur: keep its rows, run only the models it did not reach")
    args = ap.parse_args()
    started = time.time()
    rows = []
    done = {}
    if args.resume:
        with open(args.resume) as f:
            for line in f:
                r = json.loads(line)
                if not r.get("error", "").startswith("not run"):
                    done[r["model"]] = r
    jsonl = os.path.splitext(args.out)[0] + ".jsonl"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with tempfile.TemporaryDirectory() as work, open(jsonl, "w") as log:
        for family, name, fn in builders():
            if args.only and not re.search(args.only, name):
                continue
            if name in done:
                rows.append(done[name])
                log.write(json.dumps(done[name]) + "\n")
                continue
            row = {"family": family, "model": name}
            t0 = time.time()
            if time.time() - started > args.cap_seconds:
                row["error"] = f"not run: the sweep's time cap ({args.cap_seconds:.0f} s) was reached"
            else:
                path = os.path.join(work, name + ".onnx")
                try:
                    params, how, skipped = export(fn, name, family, path, args.max_params)
                except Exception as e:  # noqa: BLE001
                    params, how, skipped = None, None, f"build failed: {type(e).__name__}: {e}"
                row["params"] = params
                if how is None:
                    row["error"] = skipped
                else:
                    row["input"], row["opset"] = how
                    rc, out, err = run([args.secateur, "inspect", path, "--json"], args.step_seconds)
                    row["import"] = rc == 0
                    if rc != 0:
                        row["error"] = first_error(rc, err)
                    else:
                        rc, out, err = run([args.secateur, "prune", path, "--dry-run", "--speedup", "2", "--json"], args.step_seconds)
                        if rc != 0 and not out.strip().startswith("{"):
                            row["error"] = "prune --dry-run: " + first_error(rc, err)
                        else:
                            d = json.loads(out)
                            row["prunable"], row["blocked"] = d["prunable"], d["blocked"]
                            reasons = collections.Counter(shorten(g["reason"]) for g in d["groups"] if not g["prunable"])
                            row["reasons"] = reasons.most_common()
                            if rc != 0:
                                row["error"] = "prune --dry-run: " + first_error(rc, err)
                    os.remove(path)
            row["seconds"] = round(time.time() - t0, 1)
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(json.dumps(row), flush=True)
    fallback = None
    if args.fallback:
        with open(args.fallback[0]) as f:
            fallback = ({(r := json.loads(line))["model"]: r for line in f}, args.fallback[1])
    write_table(args.out, rows, started, fallback, len(done))


def write_table(path, rows, started, fallback=None, resumed=0):
    load = open("/proc/loadavg").read().split()[:3]
    filled = 0
    if fallback:
        by_model, label = fallback
        for i, r in enumerate(rows):
            if r.get("error", "").startswith("not run") and r["model"] in by_model:
                rows[i] = dict(by_model[r["model"]], model=r["model"] + " ‡")
                filled += 1
    ok = [r for r in rows if r.get("import")]
    with open(path, "w") as f:
        f.write("# torchvision sweep: every classification and segmentation builder through Secateur\n\n")
        f.write(f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} by `benchmarks/onnx/torchvision-sweep.sh` "
                f"(torch {torch.__version__}, torchvision {torchvision.__version__}, random weights, eval mode, dynamic batch; "
                f"{os.cpu_count()} cores, load average at the end {' '.join(load)}; {time.time() - started:.0f} s"
                + (f" in this pass, resuming an earlier pass of the same build for {resumed} models" if resumed else " in all") + ").\n\n")
        f.write(f"{len(ok)} of {len(rows)} builders import; per model: `secateur inspect` then "
                "`secateur prune --dry-run --speedup 2` (groups prunable / blocked, and the blocked groups' reasons, node "
                "names elided, most frequent first). The graph output's own group (the classifier or the segmentation head) "
                "is always blocked, by design.\n\n")
        if filled:
            f.write(f"‡ {filled} models this build did not reach within the time cap: their row is {fallback[1]}.\n\n")
        f.write("| family | model | params | input | opset | import | prunable | blocked | blocked reasons / error | s |\n")
        f.write("|---|---|---:|---:|---:|---|---:|---:|---|---:|\n")
        for r in rows:
            reasons = "; ".join(f"{n}× {why}" for why, n in r.get("reasons", []))
            err = r.get("error")
            text = (err + (" — " if reasons else "") if err else "") + reasons
            text = text.replace("|", "\\|")
            params = f"{r['params'] / 1e6:.1f}M" if r.get("params") else ""
            size = f"{r['input']}²" if r.get("input") else ""
            imp = "yes" if r.get("import") else ("no" if "import" in r else "—")
            f.write(f"| {r['family']} | {r['model']} | {params} | {size} | {r.get('opset', '')} | {imp} | "
                    f"{r.get('prunable', '')} | {r.get('blocked', '')} | {text} | {r['seconds']} |\n")


if __name__ == "__main__":
    sys.exit(main())
