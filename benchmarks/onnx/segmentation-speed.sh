#!/usr/bin/env bash
# Issue 12's speed check: import + dependency graph + 2x prune (half the channels, uniform L1) + export of torchvision's
# full-width fcn_resnet50 (with aux head, 3x224x224) beside the same for ResNet-50, in one run; fcn_resnet50 must stay
# within 2x of ResNet-50's time. Both files are exported on the fly by scripts/make-onnx-fixtures.py --full-width
# (random weights, opset 13, BN folded; too large to commit). Best of 5 after a warm-up each (onnx-speed).
# Needs: apt-get install python3-torch python3-torchvision.   Usage: benchmarks/onnx/segmentation-speed.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/onnx/results"; mkdir -p "$out"
work=${WORK:-$(mktemp -d)}
[[ -f $work/fcn_resnet50.full.op13.onnx && -f $work/resnet50.full.op13.onnx ]] \
  || /usr/bin/python3 "$root/scripts/make-onnx-fixtures.py" --full-width "$work" >/dev/null 2>&1
dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$work/bench" >/dev/null
{ echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# torchvision fcn_resnet50 (aux) and resnet50 exported by torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null) at opset 13, BN folded; command: benchmarks/onnx/segmentation-speed.sh"
  for m in resnet50 fcn_resnet50; do dotnet "$work/bench/Secateur.Benchmarks.dll" onnx-speed "$work/$m.full.op13.onnx"; done; } \
  | tee "$work/speed.jsonl"
/usr/bin/python3 - "$work/speed.jsonl" <<'PY' | tee -a "$work/speed.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = {("fcn" if "fcn" in r.get("file", r.get("model", "")) else "resnet"): r["totalSeconds"] for r in rows}
print(json.dumps({"fcnOverResnet50": round(t["fcn"] / t["resnet"], 3), "limit": 2.0, "withinLimit": t["fcn"] / t["resnet"] <= 2.0}))
PY
cp "$work/speed.jsonl" "$out/segmentation-speed.jsonl"
[[ -n ${WORK:-} ]] || rm -rf "$work"
