#!/usr/bin/env bash
# ONNX in, ONNX out on a real exporter's file: torchvision's ResNet-50 (random weights, 3x224x224, dynamic batch)
# exported by Debian's python3-torch, then imported by Secateur, pruned to half its channels (uniform L1) and
# exported again. Best of 5 after a warm-up. Needs: apt-get install python3-torch python3-torchvision.
# Usage: benchmarks/onnx/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/onnx/results"; mkdir -p "$out"
work=$(mktemp -d)
/usr/bin/python3 - "$work/resnet50.onnx" <<'PY' 2>/dev/null
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet50().eval()
torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], opset_version=13, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
PY
dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$work/bench" >/dev/null
{ echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# torchvision resnet50 exported by torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null) at opset 13, BN folded"
  dotnet "$work/bench/Secateur.Benchmarks.dll" onnx-speed "$work/resnet50.onnx"; } | tee "$out/resnet50.jsonl"
rm -rf "$work"
