#!/usr/bin/env bash
# Baseline accuracy of ResNet-20 on the full Fashion-MNIST with the benchmark protocol's recipe
# (SGD momentum 0.9 Nesterov, wd 5e-4, batch 128, one-cycle peaking at 0.1 with 15% warm-up,
# pad-2 crop + flip). Usage: benchmarks/baseline-accuracy/run.sh [quick|full]   (quick = 5 epochs, full = 20; env THREADS=2)
# Needs: apt-get install dataset-fashion-mnist. Writes results/<recipe>.json and results/resnet20-<recipe>.onnx.
set -euo pipefail
recipe=${1:-quick}
case "$recipe" in quick) epochs=5 ;; full) epochs=20 ;; *) echo "recipe is quick or full" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/baseline-accuracy/results"
mkdir -p "$out"
bin=$(mktemp -d)
dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin" >/dev/null
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# command: secateur train resnet20 --data fashion-mnist --epochs $epochs --seed 0 --json"
} > "$out/$recipe.meta"
dotnet "$bin/Secateur.Cli.dll" train resnet20 --data fashion-mnist --epochs "$epochs" --seed 0 --threads "${THREADS:-2}" \
  --checkpoint "$out/resnet20-$recipe.ckpt" --resume -o "$out/resnet20-$recipe.onnx" --json > "$out/$recipe.json"
rm -f "$out/resnet20-$recipe.ckpt"
cat "$out/$recipe.meta" "$out/$recipe.json"
