#!/usr/bin/env bash
# Int8 post-training quantization (secateur quantize) on the benchmark protocol's workload (ResNet-20, Fashion-MNIST):
#   the quick-recipe dense ResNet-20 and its L1 2x-pruned version, each calibrated with min-max and with the 99.99th
#   percentile on 512 training images; fp32 vs int8 top-1 on the full test split (both run by ONNX Runtime), file
#   sizes, and ORT p50 latency fp32 vs int8 at batch 1 and 64 (interleaved, 2 threads); then the chain
#   dense fp32 -> pruned 2x fp32 -> pruned 2x int8 against the dense fp32 model (bench --against, interleaved).
# Usage: benchmarks/quantization/run.sh [runs]   (timed runs per batch size and model, default 50)
# Needs benchmarks/baseline-accuracy/run.sh quick and benchmarks/pruning/run.sh quick first (their .onnx results).
set -euo pipefail
runs=${1:-50}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/quantization/results"; mkdir -p "$out"
dense="$root/benchmarks/baseline-accuracy/results/resnet20-quick.onnx"
pruned="$root/benchmarks/pruning/results/resnet20-quick-l1-2x.onnx"
bin=$(mktemp -d); dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
stamp="# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
{ echo "$stamp"; echo "# secateur quantize MODEL --data fashion-mnist --preprocess fashion-mnist --calibration-images 512 --method M --batch 1,64 --threads 2 --runs $runs --json"; } > "$out/quantize.meta"
: > "$out/quantize.jsonl"
for model in dense pruned; do
  src=${!model}
  for method in minmax percentile; do
    secateur quantize "$src" --data fashion-mnist --preprocess fashion-mnist --calibration-images 512 --method "$method" --batch 1,64 --threads 2 --runs "$runs" \
      -o "$out/resnet20-$model-$method.int8.onnx" --json | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); d['model']='$model'; print(json.dumps(d))" \
      | tee -a "$out/quantize.jsonl"
  done
done
# The chain, end to end against the dense fp32 model: pruned fp32, and pruned int8 (min-max).
{ echo "$stamp"; echo "# secateur bench X --against resnet20-quick.onnx --batch 1,64 --threads 2 --runs $runs --json"; } > "$out/chain.meta"
: > "$out/chain.jsonl"
for x in "$pruned" "$out/resnet20-pruned-minmax.int8.onnx" "$out/resnet20-dense-minmax.int8.onnx"; do
  secateur bench "$x" --against "$dense" --batch 1,64 --threads 2 --runs "$runs" --json \
    | /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)))" | tee -a "$out/chain.jsonl"
done
/usr/bin/python3 "$root/benchmarks/quantization/summary.py" "$out" "$stamp" | tee "$out/summary.md"
