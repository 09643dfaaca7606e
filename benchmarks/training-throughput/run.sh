#!/usr/bin/env bash
# Training throughput, Secateur's runtime vs PyTorch for Python, side by side in one run on one machine.
# Same model definitions (the benchmark protocol's ResNet-20 and MobileNetV2 at 1x28x28), same batch (128),
# same optimizer, same augmentation, real Fashion-MNIST batches, same thread count. The two runtimes
# alternate ROUNDS times and the best round of each is kept (the machine is shared and noisy).
# Usage: benchmarks/training-throughput/run.sh [BATCHES=30] [ROUNDS=3] [THREADS=2]
#   env MODELS="resnet20 mobilenetv2"; OUT=<dir> (default results/); UNTUNED=1 adds a Secateur round per round with
#   SECATEUR_MALLOC_TUNING=0 (glibc's default allocator behaviour), to measure what the allocator tuning buys
# Needs: apt-get install dataset-fashion-mnist python3-torch
set -euo pipefail
batches=${1:-30}; rounds=${2:-3}; threads=${3:-2}
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benchmarks/training-throughput"
bin=$(mktemp -d)
dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$bin" >/dev/null
out=${OUT:-$here/results}
raw="$out/raw.jsonl"
mkdir -p "$out"; : > "$raw"
for model in ${MODELS:-resnet20 mobilenetv2}; do
  for r in $(seq "$rounds"); do
    /usr/bin/python3 "$here/torch_reference.py" "$model" "$batches" --threads "$threads" --warmup 10 >> "$raw"
    dotnet "$bin/Secateur.Benchmarks.dll" throughput "$model" "$batches" --threads "$threads" --warmup 10 >> "$raw"
    if [[ -n ${UNTUNED:-} ]]; then
      SECATEUR_MALLOC_TUNING=0 dotnet "$bin/Secateur.Benchmarks.dll" throughput "$model" "$batches" --threads "$threads" --warmup 10 \
        | sed 's/"runtime":"secateur/"runtime":"untuned secateur/' >> "$raw"
    fi
  done
done
/usr/bin/python3 - "$raw" "$out/results.md" "$batches" "$rounds" "$threads" <<'PY'
import json, sys, datetime, platform, os
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
out = [f"# Training throughput, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
       f"Machine: {platform.node()}, {os.cpu_count()} cores, {cpu}. Command: benchmarks/training-throughput/run.sh {' '.join(sys.argv[3:])}", "",
       "| model | PyTorch (Python) img/s, best | Secateur img/s, best | ratio Secateur / PyTorch | all rounds (PyTorch ; Secateur) |", "|---|---|---|---|---|"]
untuned = [r for r in rows if r['runtime'].startswith('untuned')]
if untuned:
    out[-2] = out[-2].replace(' all rounds', ' Secateur, malloc untuned, best | all rounds').replace('Secateur) |', 'Secateur ; untuned) |')
    out[-1] += '---|'
for model in ['resnet20', 'mobilenetv2']:
    py = [r['imagesPerSecond'] for r in rows if r['model'] == model and r['runtime'].startswith('pytorch')]
    cs = [r['imagesPerSecond'] for r in rows if r['model'] == model and r['runtime'].startswith('secateur')]
    un = [r['imagesPerSecond'] for r in rows if r['model'] == model and r['runtime'].startswith('untuned')]
    if py and cs:
        extra = f" {max(un):.1f} |" if un else ""
        rounds = ', '.join(map(str, py)) + ' ; ' + ', '.join(map(str, cs)) + (' ; ' + ', '.join(map(str, un)) if un else '')
        out.append(f"| {model} | {max(py):.1f} | {max(cs):.1f} | {max(cs)/max(py):.2f} |{extra} {rounds} |")
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
print('\n'.join(out))
PY
