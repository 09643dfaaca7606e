#!/usr/bin/env bash
# The PyTorch hand-off against Secateur's own trainer, on the benchmark protocol's full recipe: ResNet-20 (the 20-epoch
# Fashion-MNIST baseline) pruned 2x by L1 (uniform, --round-to 1, BN recalibration as prune does by default), then
# fine-tuned 10 epochs with the prune fine-tuning recipe (SGD Nesterov momentum 0.9, wd 5e-4, batch 128, lr 0.01
# cosine, pad-2 crop + flip) twice from the same pruned model:
#   secateur: `secateur train pruned.onnx` (one process, THREADS libtorch threads)
#   torch:    `secateur export --pytorch`, `torchrun --nproc_per_node 2 finetune.py` (DDP, gloo, one thread per rank),
#             `secateur import-weights`, then `secateur eval` of the imported model
# Usage: benchmarks/handoff/run.sh [prepare|secateur|torch|all]   (env THREADS=1). Both runs checkpoint every epoch
# and resume when rerun. Needs dataset-fashion-mnist and python3-torch.
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/handoff/results"; mkdir -p "$out"
work="${WORK:-/tmp/secateur-handoff}"; mkdir -p "$work"
bin=$(mktemp -d); dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin" >/dev/null
stamp() { echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"; }
secateur() { dotnet "$bin/Secateur.Cli.dll" "$@"; }
pruned="$out/resnet20-full-l1-2x-pruned.onnx"
if [[ $what == prepare || $what == all || ! -f $pruned ]]; then
  secateur prune "$root/benchmarks/baseline-accuracy/results/resnet20-full.onnx" --round-to 1 --data fashion-mnist --speedup 2 \
    --criterion l1 --finetune-epochs 0 --threads "${THREADS:-1}" -o "$pruned" --json > "$out/prepare.json"
fi
if [[ $what == secateur || $what == all ]]; then
  { stamp; echo "# secateur train resnet20-full-l1-2x-pruned.onnx --data fashion-mnist --epochs 10 --lr 0.01 --schedule cosine --seed 0 --threads ${THREADS:-1} --json"; } > "$out/secateur.meta"
  start=$(date +%s)
  secateur train "$pruned" --data fashion-mnist --epochs 10 --lr 0.01 --schedule cosine --seed 0 --threads "${THREADS:-1}" \
    --checkpoint "$work/secateur.ckpt" --resume -o "$work/secateur-tuned.onnx" --json > "$out/secateur.json"
  { echo "# wall seconds (this invocation): $(( $(date +%s) - start ))"; stamp; } >> "$out/secateur.meta"
fi
if [[ $what == torch || $what == all ]]; then
  pkg="$work/package"
  secateur export "$pruned" --pytorch "$pkg" > /dev/null
  { stamp; echo "# secateur export resnet20-full-l1-2x-pruned.onnx --pytorch package"
    echo "# OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 --redirects 1 --tee 1 package/finetune.py --data /usr/share/datasets/fashion-mnist --epochs 10 --lr 0.01 --schedule cosine --batch-size 128 --seed 0 --backend gloo --checkpoint torch.ckpt --resume"; } > "$out/torch.meta"
  start=$(date +%s)
  OMP_NUM_THREADS=1 /usr/bin/python3 -m torch.distributed.run --standalone --nproc_per_node 2 --redirects 1 --tee 1 --log_dir "$work/torchrun-logs" "$pkg/finetune.py" \
    --data /usr/share/datasets/fashion-mnist --epochs 10 --lr 0.01 --schedule cosine --batch-size 128 --seed 0 --backend gloo \
    --checkpoint "$work/torch.ckpt" --resume --log "$out/torch-epochs.jsonl" --output "$work/tuned.safetensors"
  { echo "# wall seconds (this invocation, torchrun): $(( $(date +%s) - start ))"; stamp; } >> "$out/torch.meta"
  secateur import-weights "$pruned" "$work/tuned.safetensors" -o "$work/torch-tuned.onnx"
  secateur eval "$work/torch-tuned.onnx" --data fashion-mnist --json > "$out/torch-eval.json"
fi
