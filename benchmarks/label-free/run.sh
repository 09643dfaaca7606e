#!/usr/bin/env bash
# Label-free vs labelled fine-tuning on the full recipe (issue 13): the 20-epoch ResNet-20 baseline
# (benchmarks/baseline-accuracy/results/resnet20-full.onnx) pruned 2x and 4x with L1 (--round-to 1), then 10 epochs of
# fine-tuning with the pruning benchmark's recipe (SGD Nesterov, lr 0.01 cosine, batch 128, augmentation, BN
# recalibration on 1024 images) -- but on the Fashion-MNIST training images WITHOUT their labels (--label-free):
# the pruned student distils from the dense model (KL at T=4). The test labels only score the result.
# The labelled figures to compare with are benchmarks/pruning/results/full-l1-{2x,4x}.json (same command without
# --label-free). Every epoch is checkpointed; rerunning the script resumes an interrupted run.
# Usage: benchmarks/label-free/run.sh [2x|4x|all]   (env THREADS=2)
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/label-free/results"; mkdir -p "$out"
base="$root/benchmarks/baseline-accuracy/results/resnet20-full.onnx"
bin="$out/.bin"; dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin" >/dev/null
secateur() { dotnet "$bin/Secateur.Cli.dll" "$@"; }
run() {
  local name=$1 speedup=$2
  { echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# load at start: $(uptime)"
    echo "# secateur prune resnet20-full.onnx --data fashion-mnist --label-free --round-to 1 --speedup $speedup --criterion l1 --finetune-epochs 10 --json"; } > "$out/$name.meta"
  secateur prune "$base" --data fashion-mnist --label-free --round-to 1 --speedup "$speedup" --criterion l1 --finetune-epochs 10 \
    --threads "${THREADS:-2}" --checkpoint "$out/$name.ckpt" --resume -o "$out/resnet20-$name.onnx" --report "$out/$name.md" --json \
    > "$out/$name.json" 2> "$out/$name.log"
  echo "# load at end: $(uptime)" >> "$out/$name.meta"
  rm -f "$out/$name.ckpt"
  cat "$out/$name.meta" "$out/$name.md"
}
if [[ $what == 2x || $what == all ]]; then run label-free-l1-2x 2; fi
if [[ $what == 4x || $what == all ]]; then run label-free-l1-4x 4; fi
