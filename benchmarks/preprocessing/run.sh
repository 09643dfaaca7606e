#!/usr/bin/env bash
# Issue 17's full-data case, end to end: a typical PyTorch CNN (two conv-BN-ReLU-maxpool blocks, dropout, two Linear)
# trained by Debian's PyTorch on the FULL Fashion-MNIST with ToTensor() only ([0, 1], no normalisation), exported
# with plain torch.onnx.export (no Secateur metadata); then
#   secateur eval  model.onnx --data fashion-mnist              (must pick "unit" by itself and report ~ PyTorch's accuracy)
#   secateur prune model.onnx --data fashion-mnist --speedup 2 --finetune-epochs 1 -o pruned.onnx
# and ONNX Runtime alone (Secateur.Benchmarks ort-accuracy: IDX pixels / 255, none of Secateur's data code) on the
# original and the pruned file, fed as the user's application feeds them: the figures must equal Secateur's.
# Usage: benchmarks/preprocessing/run.sh [epochs]   (default 5; training resumes from its per-epoch checkpoint)
set -euo pipefail
epochs=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/preprocessing/results"; mkdir -p "$out"
work=${WORK:-$root/benchmarks/preprocessing/work}; mkdir -p "$work"   # checkpoint and .onnx files (not committed)
idx=/usr/share/datasets/fashion-mnist
stamp() { echo "$(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"; }
echo "start: $(stamp)" > "$out/run.meta"
nice -n 5 /usr/bin/python3 "$root/benchmarks/preprocessing/train.py" "$work" "$epochs" | tee "$out/train.log"
cp "$work/pytorch.json" "$out/pytorch.json"
echo "trained: $(stamp)" >> "$out/run.meta"
bin=${BIN:-$(mktemp -d)}
[ -f "$bin/cli/Secateur.Cli.dll" ] || dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
[ -f "$bin/bench/Secateur.Benchmarks.dll" ] || dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$bin/bench" >/dev/null
secateur() { nice -n 5 dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
cd "$work"
echo "# secateur eval model.onnx --data fashion-mnist --json" >> "$out/run.meta"
secateur eval model.onnx --data fashion-mnist --json > "$out/eval.json" 2> "$out/eval.stderr"
echo "evaluated: $(stamp)" >> "$out/run.meta"
echo "# secateur prune model.onnx --data fashion-mnist --speedup 2 --finetune-epochs 1 -o pruned.onnx --json" >> "$out/run.meta"
secateur prune model.onnx --data fashion-mnist --speedup 2 --finetune-epochs 1 -o pruned.onnx --json > "$out/prune.json" 2> "$out/prune.stderr"
echo "pruned: $(stamp)" >> "$out/run.meta"
echo "# dotnet Secateur.Benchmarks.dll ort-accuracy FILE $idx" >> "$out/run.meta"
for f in model.onnx pruned.onnx; do nice -n 5 dotnet "$bin/bench/Secateur.Benchmarks.dll" ort-accuracy "$f" "$idx"; done > "$out/ort.jsonl"
echo "done: $(stamp)" >> "$out/run.meta"
/usr/bin/python3 "$root/benchmarks/preprocessing/summary.py" "$out" | tee "$out/summary.md"
