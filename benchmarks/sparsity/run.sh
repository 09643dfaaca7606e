#!/usr/bin/env bash
# Weight-level sparsity on LeNet-5 / Fashion-MNIST (the full set: apt-get install dataset-fashion-mnist).
#   train:   LeNet-5 trained densely for $EPOCHS epochs (the baseline every other mode starts from)
#   sweep:   unstructured sparsity sweep ($SPARSITIES) with fine-tuning: accuracy vs non-zero params, and the
#            compressed size (lossless and --int8) vs the dense fp32 ONNX file
#   nm:      2:4 sparsity with fine-tuning
#   lottery: lottery ticket with rewinding, from the untrained model ($EPOCHS epochs per round)
# Usage: benchmarks/sparsity/run.sh [train|sweep|nm|lottery|all]   (sweep and nm need train first)
# Environment: EPOCHS (8), FT_EPOCHS (2, per schedule step), STEPS (3, AGP steps / lottery rounds),
#   SPARSITIES ("0.5 0.8 0.9 0.92 0.95 0.97"), CRITERION (lamp), SCOPE (global), LR (0.01),
#   TRAIN_LIMIT (all 60,000 images unless set; a smoke test sets it), OUT (default: results/ beside this script).
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/benchmarks/sparsity/results}; mkdir -p "$out"
epochs=${EPOCHS:-8}; ft=${FT_EPOCHS:-2}; steps=${STEPS:-3}; lr=${LR:-0.01}
sparsities=${SPARSITIES:-0.5 0.8 0.9 0.92 0.95 0.97}; criterion=${CRITERION:-lamp}; scope=${SCOPE:-global}
limit=(); [[ -n ${TRAIN_LIMIT:-} ]] && limit=(--train-limit "$TRAIN_LIMIT")
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
stamp="# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)${TRAIN_LIMIT:+, SMOKE TEST: --train-limit $TRAIN_LIMIT}"
base="$out/lenet5-dense.onnx"
# Sizes of one model: dense ONNX, lossless archive, int8 archive (archives are written next to the model).
sizes() {
  local model=$1
  secateur compress "$model" -o "${model%.onnx}.sct" --json > "$bin/lossless.json"
  secateur compress "$model" -o "${model%.onnx}.int8.sct" --int8 --json > "$bin/int8.json"
  /usr/bin/python3 -c "import json; a=json.load(open('$bin/lossless.json')); b=json.load(open('$bin/int8.json')); print(json.dumps({'denseOnnxBytes': a['denseOnnxBytes'], 'sctBytes': a['bytes'], 'sctRatio': round(a['ratio'], 2), 'sctVerified': a['verified'], 'int8SctBytes': b['bytes'], 'int8SctRatio': round(b['ratio'], 2)}))"
}
if [[ $what == train || $what == all ]]; then
  { echo "$stamp"; echo "# secateur train lenet5 --data fashion-mnist --epochs $epochs --seed 0 ${limit[*]} --json"; } > "$out/dense.meta"
  secateur train lenet5 --data fashion-mnist --epochs "$epochs" --seed 0 --threads 2 "${limit[@]}" -o "$base" --json > "$out/dense.json"
  sizes "$base" > "$out/dense-sizes.json"
  cat "$out/dense.meta" "$out/dense-sizes.json"
fi
if [[ $what == sweep || $what == all ]]; then
  { echo "$stamp"
    echo "# for s in $sparsities: secateur sparsify lenet5-dense.onnx --sparsity s --scope $scope --criterion $criterion --schedule agp --steps $steps --finetune-epochs $ft --lr $lr --data fashion-mnist ${limit[*]} --json; secateur compress [--int8]"
  } > "$out/sweep.jsonl"
  for s in $sparsities; do
    model="$out/lenet5-s$s.onnx"
    secateur sparsify "$base" --sparsity "$s" --scope "$scope" --criterion "$criterion" --schedule agp --steps "$steps" \
      --finetune-epochs "$ft" --lr "$lr" --data fashion-mnist --threads 2 "${limit[@]}" -o "$model" --json > "$bin/prune.json"
    sizes "$model" > "$bin/sizes.json"
    /usr/bin/python3 - "$bin/prune.json" "$bin/sizes.json" <<'PY' | tee -a "$out/sweep.jsonl"
import json, sys
p = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
row = {k: p.get(k) for k in ['targetSparsity', 'weightSparsity', 'sparsity', 'params', 'nonZeroParams', 'compression',
                             'accuracyBefore', 'accuracyPruned', 'accuracyFinetuned', 'totalSeconds']}
row['dropPoints'] = round((p['accuracyBefore'] - p['accuracyFinetuned']) * 100, 2)
print(json.dumps(row | s))
PY
  done
  /usr/bin/python3 - "$out/sweep.jsonl" "$out/dense-sizes.json" > "$out/sweep.md" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [json.loads(l) for l in lines if not l.startswith('#')]
dense = json.load(open(sys.argv[2]))
print('\n'.join(l for l in lines if l.startswith('#')) + '\n')
print(f"Dense LeNet-5: {rows[0]['params']:,} params; ONNX {dense['denseOnnxBytes']:,} bytes, lossless archive {dense['sctBytes']:,}, int8 archive {dense['int8SctBytes']:,}.\n")
print('| target sparsity | non-zero params | fewer non-zeros | accuracy before | right after pruning | after fine-tuning | drop (points) | .sct lossless (ratio) | .sct int8 (ratio) |')
print('|---|---|---|---|---|---|---|---|---|')
for r in rows:
    print(f"| {r['targetSparsity']} | {r['nonZeroParams']:,} | {r['compression']:.1f}x | {r['accuracyBefore']:.2%} | {r['accuracyPruned']:.2%} | {r['accuracyFinetuned']:.2%} | {r['dropPoints']:.2f} | {r['sctBytes']:,} ({r['sctRatio']}x) | {r['int8SctBytes']:,} ({r['int8SctRatio']}x) |")
PY
  cat "$out/sweep.md"
fi
if [[ $what == nm || $what == all ]]; then
  { echo "$stamp"; echo "# secateur sparsify lenet5-dense.onnx --nm 2:4 --finetune-epochs $ft --lr $lr --data fashion-mnist ${limit[*]} --json"; } > "$out/nm-2-4.meta"
  secateur sparsify "$base" --nm 2:4 --finetune-epochs "$ft" --lr "$lr" --data fashion-mnist --threads 2 "${limit[@]}" -o "$out/lenet5-nm24.onnx" --json > "$out/nm-2-4.json"
  cat "$out/nm-2-4.meta"; /usr/bin/python3 -c "import json; p=json.load(open('$out/nm-2-4.json')); print({k: p[k] for k in ['nmSatisfied','nonZeroParams','accuracyBefore','accuracyPruned','accuracyFinetuned']})"
fi
if [[ $what == lottery || $what == all ]]; then
  { echo "$stamp"; echo "# secateur sparsify lenet5 --sparsity 0.9 --scope $scope --criterion $criterion --schedule lottery --steps $steps --rewind-epoch 1 --finetune-epochs $epochs --lr 0.05 --data fashion-mnist ${limit[*]} --json"; } > "$out/lottery.meta"
  secateur sparsify lenet5 --sparsity 0.9 --scope "$scope" --criterion "$criterion" --schedule lottery --steps "$steps" --rewind-epoch 1 \
    --finetune-epochs "$epochs" --lr 0.05 --data fashion-mnist --threads 2 "${limit[@]}" -o "$out/lenet5-lottery.onnx" --json > "$out/lottery.json"
  cat "$out/lottery.meta"; /usr/bin/python3 -c "import json; p=json.load(open('$out/lottery.json')); [print(s) for s in p['steps']]"
fi
