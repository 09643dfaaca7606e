#!/usr/bin/env bash
# int8 vs fp32 latency for ResNet-20, MobileNetV2 (CIFAR-style, 1x28x28) and ResNet-18 (ImageNet-style, 3x224x224),
# dense and 2x pruned (prune --speedup 2, default --round-to 8), quantized by two builds of secateur: BEFORE (e.g.
# main's CLI, published to a directory) and AFTER (this checkout), each int8 file timed with
#   secateur bench X.int8.onnx --against X.onnx --batch 1,32 --threads T --runs R
# (the interleaved ABBA measurement; before and after back to back, per model). Also writes each quantize's accuracy
# (int8 vs fp32 top-1 and agreement) for the models that are trained.
#
# Models: resnet20-quick.onnx and mobilenetv2-quick.onnx (benchmarks/baseline-accuracy), their 2x prunes made here
# without data (no recalibration, no fine-tuning: latency does not depend on the weights' values), and ResNet-18 with
# the zoo's seeded random weights (exported here) and its 2x prune. ResNet-18's calibration and test images are
# Fashion-MNIST upscaled to 224x224 RGB (a class-folder set written by make224.py), since latency does not depend on
# accuracy and no ImageNet is installed; its accuracy figures mean nothing and are marked so.
#
# Usage: benchmarks/quantization/int8-speed.sh BEFORE_CLI_DIR [threads=2] [runs=20] [models="..."]
#   BEFORE_CLI_DIR: a `dotnet publish src/Secateur.Cli -o DIR` of the baseline commit (e.g. main).
set -euo pipefail
before_dir=$1; threads=${2:-2}; runs=${3:-20}
models=${4:-"resnet20 resnet20-2x mobilenetv2 mobilenetv2-2x resnet18 resnet18-2x"}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/quantization/results/int8-speed"; mkdir -p "$out"
work=${WORK:-$(mktemp -d)}; mkdir -p "$work/models"
echo "work dir: $work" >&2
if [ ! -f "$work/after-cli/Secateur.Cli.dll" ]; then dotnet publish "$root/src/Secateur.Cli" -c Release -o "$work/after-cli" >/dev/null; fi
before() { dotnet "$before_dir/Secateur.Cli.dll" "$@"; }
after() { dotnet "$work/after-cli/Secateur.Cli.dll" "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Models (made once; the pruned ones and ResNet-18 with AFTER, whose prune and export are main's).
m="$work/models"
[ -f "$m/resnet20.onnx" ] || cp "$root/benchmarks/baseline-accuracy/results/resnet20-quick.onnx" "$m/resnet20.onnx"
[ -f "$m/mobilenetv2.onnx" ] || cp "$root/benchmarks/baseline-accuracy/results/mobilenetv2-quick.onnx" "$m/mobilenetv2.onnx"
[ -f "$m/resnet18.onnx" ] || after export resnet18 -o "$m/resnet18.onnx" >/dev/null
for a in resnet20 mobilenetv2 resnet18; do
  [ -f "$m/$a-2x.onnx" ] || after prune "$m/$a.onnx" --speedup 2 -o "$m/$a-2x.onnx" >&2
done
[ -d "$work/fm224" ] || /usr/bin/python3 "$root/benchmarks/quantization/make224.py" "$work/fm224" 256 100

stamp="$(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
{ echo "# $stamp"; echo "# before: $before_dir ($(cat "$before_dir/COMMIT" 2>/dev/null || echo '?')); after: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo '+dirty')";
  echo "# secateur quantize X.onnx --data D --calibration-images C --test-limit T --batch 1 --runs 2 --threads T --json (accuracy only; its timing is not used)";
  echo "# secateur bench X.int8.onnx --against X.onnx --batch 1,32 --threads T --runs R --json (T, R: the threads and runs columns)"; } >> "$out/int8-speed.meta"
for name in $models; do
  src="$m/$name.onnx"
  case $name in
    resnet18*) data="folder:$work/fm224"; cal=64; test=100 ;;
    *) data=fashion-mnist; cal=512; test=1000 ;;
  esac
  for v in before after; do
    q="$work/$name.$v.int8.onnx"
    [ -f "$q" ] || $v quantize "$src" --data "$data" --calibration-images $cal --test-limit $test --batch 1 --runs 2 --threads "$threads" -o "$q" --json \
      > "$work/$name.$v.quantize.json" 2>>"$work/log"
  done
  for v in before after; do
    q="$work/$name.$v.int8.onnx"
    l0=$(load)
    after bench "$q" --against "$src" --batch 1,32 --threads "$threads" --runs "$runs" --json 2>>"$work/log" > "$work/$name.$v.bench.json"
    l1=$(load)
    /usr/bin/python3 - "$work/$name.$v.quantize.json" "$work/$name.$v.bench.json" "$name" "$v" "$threads" "$l0" "$l1" "$q" "$runs" <<'PY' | tee -a "$out/int8-speed.jsonl"
import json, os, sys
qf, bf, name, v, threads, l0, l1, path, runs = sys.argv[1:]
q, b = json.load(open(qf)), json.load(open(bf))
row = dict(model=name, quantizer=v, threads=int(threads), runs=int(runs), loadBefore=l0, loadAfter=l1, int8Bytes=os.path.getsize(path),
           quantizedNodes=q["quantizedNodes"], testImages=q["testImages"], floatTop1=q["floatAccuracy"], int8Top1=q["int8Accuracy"],
           agreement=q["agreement"], trained=name in ("resnet20", "mobilenetv2"),
           bench=[dict(batch=r["batch"], fp32P50Ms=r["baseline"]["p50Ms"], int8P50Ms=r["model"]["p50Ms"], speedup=r["speedup"],
                       speedupLow=r["speedupLow"], speedupHigh=r["speedupHigh"], rounds=r["rounds"], runs=r["model"]["runs"]) for r in b["results"]])
print(json.dumps(row))
PY
  done
done
/usr/bin/python3 "$root/benchmarks/quantization/int8-speed-summary.py" "$out" | tee "$out/int8-speed.md"
