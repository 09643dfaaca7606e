#!/usr/bin/env bash
# Issue 13's moonshot: the best configuration at 4x trying to reach the dense model's own accuracy (>= 94.3%) on the
# full-recipe ResNet-20: reconstruction criterion (the best 4x criterion after refit, 89.85% before fine-tuning),
# least-squares refit, then 10 epochs of the pruning benchmark's recipe with labels AND distillation from the dense
# model (--distill). Checkpointed every epoch; rerun to resume. Usage: benchmarks/label-free/moonshot.sh
#   env THREADS=2; EPOCHS=10 (another length writes to results/moonshot-<EPOCHS>ep/ so the 10-epoch result stays)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
epochs=${EPOCHS:-10}
out="$root/benchmarks/label-free/results/moonshot"; [[ $epochs == 10 ]] || out="$out-${epochs}ep"; mkdir -p "$out"
base="$root/benchmarks/baseline-accuracy/results/resnet20-full.onnx"
bin="$root/benchmarks/label-free/results/.bin"; [[ -f $bin/Secateur.Cli.dll ]] || dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin" >/dev/null
{ echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# load at start: $(uptime)"
  echo "# secateur prune resnet20-full.onnx --data fashion-mnist --round-to 1 --speedup 4 --criterion reconstruction --refit --distill --finetune-epochs $epochs --json"; } > "$out/run.meta"
dotnet "$bin/Secateur.Cli.dll" prune "$base" --data fashion-mnist --round-to 1 --speedup 4 --criterion reconstruction --refit --distill \
  --finetune-epochs "$epochs" --threads "${THREADS:-2}" --checkpoint "$out/moonshot.ckpt" --resume -o "$out/resnet20-moonshot-4x.onnx" \
  --report "$out/moonshot.md" --json > "$out/moonshot.json" 2> "$out/moonshot.log"
echo "# load at end: $(uptime)" >> "$out/run.meta"
