#!/usr/bin/env bash
# Structured pruning on the benchmark protocol's workload (ResNet-20, Fashion-MNIST).
#   speed:    dependency graph + pruning ResNet-50 (3x224x224) to half its channels (uniform L1); with
#             TORCH_PRUNING=<checkout of Torch-Pruning> the same with Torch-Pruning, side by side
#   criteria: accuracy right after a 2x MACs cut, per criterion, without and with BN recalibration
#   quick:    the protocol's quick recipe: L1 uniform 2x, 3 fine-tuning epochs (lr 0.01 cosine)
#   best:     the same recipe with the reconstruction criterion (BN recalibration is on by default)
#   full:     the full recipe: L1 uniform at 2x and 4x, 10 fine-tuning epochs, from the 20-epoch baseline
#   full-best: Secateur's best configuration at 4x on the full recipe (reconstruction, recalibration, distillation)
#   mobilenetv2: the protocol's MobileNetV2 with the quick recipe: 5-epoch baseline (-> baseline-accuracy/results),
#             L1 uniform 2x, 3 fine-tuning epochs (about 2 h of CPU on 2 cores; both steps checkpoint every epoch and resume)
# Every accuracy run uses --round-to 1: MACs cuts matched to the anchor's (Torch-Pruning does not round).
# Usage: benchmarks/pruning/run.sh [speed|criteria|quick|best|full|full-best|mobilenetv2|all]   (env THREADS=2)
#   (quick/best/criteria need benchmarks/baseline-accuracy/run.sh quick first; full/full-best need ... run.sh full)
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/pruning/results"; mkdir -p "$out"
base="$root/benchmarks/baseline-accuracy/results/resnet20-quick.onnx"
bin=$(mktemp -d); dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$bin/bench" >/dev/null
stamp="# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
if [[ $what == speed || $what == all ]]; then
  # Side by side with Torch-Pruning when a checkout of it is given (TORCH_PRUNING=/path/to/Torch-Pruning; PyPI is
  # not reachable here, its v1.6.1 source runs on Debian's python3-torch 1.13), alternating, two rounds each.
  { echo "$stamp"
    for round in 1 2; do
      dotnet "$bin/bench/Secateur.Benchmarks.dll" prune-speed resnet50
      if [[ -n ${TORCH_PRUNING:-} ]]; then PYTHONPATH="$TORCH_PRUNING" /usr/bin/python3 "$root/benchmarks/pruning/tp_speed.py" 2>/dev/null; fi
    done; } | tee "$out/speed.jsonl"
fi
if [[ $what == criteria || $what == all ]]; then
  { echo "$stamp"; echo "# secateur prune resnet20-quick.onnx --data fashion-mnist --round-to 1 --speedup 2 --criterion C [--recalibrate 0] --json"; } > "$out/criteria.jsonl"
  for c in l1 l2 fpgm bn taylor activation apoz reconstruction random; do
    for recal in 0 1024; do
      secateur prune "$base" --round-to 1 --data fashion-mnist --speedup 2 --criterion "$c" --recalibrate "$recal" --threads "${THREADS:-2}" -o "$bin/p.onnx" --json \
        | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d.get(k) for k in ['criterion','speedup','paramsAfter','macsAfter','accuracyBefore','accuracyPruned','accuracyRecalibrated']} | {'recalibrationImages': $recal}))" \
        | tee -a "$out/criteria.jsonl"
    done
  done
fi
if [[ $what == quick || $what == all ]]; then
  { echo "$stamp"; echo "# secateur prune resnet20-quick.onnx --data fashion-mnist --round-to 1 --speedup 2 --criterion l1 --finetune-epochs 3 --json"; } > "$out/quick-l1-2x.meta"
  secateur prune "$base" --round-to 1 --data fashion-mnist --speedup 2 --criterion l1 --finetune-epochs 3 --threads "${THREADS:-2}" \
    -o "$out/resnet20-quick-l1-2x.onnx" --report "$out/quick-l1-2x.md" --json > "$out/quick-l1-2x.json"
  cat "$out/quick-l1-2x.meta" "$out/quick-l1-2x.md"
fi
if [[ $what == best || $what == all ]]; then
  { echo "$stamp"; echo "# secateur prune resnet20-quick.onnx --data fashion-mnist --round-to 1 --speedup 2 --criterion reconstruction --finetune-epochs 3 --json"; } > "$out/quick-reconstruction-2x.meta"
  secateur prune "$base" --round-to 1 --data fashion-mnist --speedup 2 --criterion reconstruction --finetune-epochs 3 --threads "${THREADS:-2}" \
    -o "$out/resnet20-quick-reconstruction-2x.onnx" --report "$out/quick-reconstruction-2x.md" --json > "$out/quick-reconstruction-2x.json"
  cat "$out/quick-reconstruction-2x.meta" "$out/quick-reconstruction-2x.md"
fi
# One full-recipe run: name, speedup, then extra prune options.
full_run() {
  local name=$1 speedup=$2; shift 2
  local fullbase="$root/benchmarks/baseline-accuracy/results/resnet20-full.onnx"
  { echo "$stamp"; echo "# secateur prune resnet20-full.onnx --data fashion-mnist --round-to 1 --speedup $speedup --finetune-epochs 10 $* --json"; } > "$out/$name.meta"
  secateur prune "$fullbase" --round-to 1 --data fashion-mnist --speedup "$speedup" --finetune-epochs 10 --threads "${THREADS:-2}" "$@" \
    --checkpoint "$out/$name.ckpt" --resume -o "$out/resnet20-$name.onnx" --report "$out/$name.md" --json > "$out/$name.json"
  rm -f "$out/$name.ckpt"
  cat "$out/$name.meta" "$out/$name.md"
}
if [[ $what == full || $what == all ]]; then
  full_run full-l1-2x 2 --criterion l1
  full_run full-l1-4x 4 --criterion l1
fi
if [[ $what == full-best || $what == all ]]; then
  full_run full-best-4x 4 --criterion reconstruction --distill
fi
if [[ $what == mobilenetv2 ]]; then
  bout="$root/benchmarks/baseline-accuracy/results"
  if [[ ! -f $bout/mobilenetv2-quick.onnx ]]; then
    { echo "$stamp"; echo "# command: secateur train mobilenetv2 --data fashion-mnist --epochs 5 --seed 0 --json"; } > "$bout/mobilenetv2-quick.meta"
    secateur train mobilenetv2 --data fashion-mnist --epochs 5 --seed 0 --threads "${THREADS:-2}" \
      --checkpoint "$bout/mobilenetv2-quick.ckpt" --resume -o "$bout/mobilenetv2-quick.onnx" --json > "$bout/mobilenetv2-quick.json"
    rm -f "$bout/mobilenetv2-quick.ckpt"
  fi
  name=mobilenetv2-quick-l1-2x
  { echo "$stamp"; echo "# secateur prune mobilenetv2-quick.onnx --data fashion-mnist --round-to 1 --speedup 2 --criterion l1 --finetune-epochs 3 --json"; } > "$out/$name.meta"
  secateur prune "$bout/mobilenetv2-quick.onnx" --round-to 1 --data fashion-mnist --speedup 2 --criterion l1 --finetune-epochs 3 \
    --threads "${THREADS:-2}" --checkpoint "$out/$name.ckpt" --resume -o "$out/$name.onnx" --report "$out/$name.md" --json > "$out/$name.json"
  rm -f "$out/$name.ckpt"
  cat "$out/$name.meta" "$out/$name.md"
fi
