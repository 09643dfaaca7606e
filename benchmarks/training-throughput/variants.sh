#!/usr/bin/env bash
# Training and evaluation throughput variants side by side in one run: for every thread count the variants alternate
# ROUNDS times (uptime logged per round); the best wall-time round and the lowest CPU time per image of each are kept.
# CPU time (the whole process, all threads) does not grow with other processes' load the way wall time does, so on a
# shared machine it is the steadier figure of the two (it still includes OpenMP spin-waiting, which load changes).
# Usage: benchmarks/training-throughput/variants.sh [BATCHES=8] [ROUNDS=2] [THREADS="1 2"]
#   env MODEL=resnet20|mobilenetv2; BIN=<dir with a built Secateur.Benchmarks.dll> (default: publishes one);
#   VARIANTS (default all): pytorch pytorch-bf16 secateur secateur-no-prefetch secateur-bf16 pytorch-eval secateur-eval secateur-eval-bf16
#   also: secateur-passive secateur-active pytorch-passive pytorch-active (OMP_WAIT_POLICY=PASSIVE/ACTIVE, libgomp's wait policy)
set -euo pipefail
batches=${1:-8}; rounds=${2:-2}; threads=${3:-"1 2"}
model=${MODEL:-resnet20}
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benchmarks/training-throughput"
if [[ -z ${BIN:-} ]]; then BIN=$(mktemp -d); trap 'rm -rf "$BIN"' EXIT; dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$BIN" >/dev/null; fi
out=${OUT:-$here/results}; mkdir -p "$out"
raw="$out/variants-$model.jsonl"; log="$out/variants-$model.log"; : > "$raw"; : > "$log"
variants=${VARIANTS:-"pytorch pytorch-bf16 secateur secateur-no-prefetch secateur-bf16 pytorch-eval secateur-eval secateur-eval-bf16"}
for th in $threads; do
  for r in $(seq "$rounds"); do
    echo "round $r, $th thread(s): $(uptime)" >> "$log"
    for v in $variants; do
      common=("$model" "$batches" --threads "$th" --warmup 3)
      case $v in
        pytorch) /usr/bin/python3 "$here/torch_reference.py" "${common[@]}" ;;
        pytorch-bf16) /usr/bin/python3 "$here/torch_reference.py" "${common[@]}" --precision bf16 ;;
        pytorch-eval) /usr/bin/python3 "$here/torch_reference.py" "${common[@]}" --eval ;;
        secateur) dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" ;;
        secateur-no-prefetch) dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" --no-prefetch ;;
        secateur-bf16) dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" --precision bf16 ;;
        secateur-eval) dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" --eval ;;
        secateur-passive) OMP_WAIT_POLICY=PASSIVE dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" ;;
        secateur-active) OMP_WAIT_POLICY=ACTIVE dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" ;;
        pytorch-passive) OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$here/torch_reference.py" "${common[@]}" ;;
        pytorch-active) OMP_WAIT_POLICY=ACTIVE /usr/bin/python3 "$here/torch_reference.py" "${common[@]}" ;;
        secateur-eval-bf16) dotnet "$BIN/Secateur.Benchmarks.dll" throughput "${common[@]}" --eval --precision bf16 ;;
        *) echo "unknown variant $v" >&2; exit 2 ;;
      esac | sed "s/^{/{\"variant\": \"$v\", /" >> "$raw"
    done
    echo "after round $r: $(uptime)" >> "$log"
  done
done
/usr/bin/python3 - "$raw" "$out/variants-$model.md" "$model" "$batches" "$rounds" "$threads" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = [f"# Throughput variants, {sys.argv[3]}, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
       f"Command: benchmarks/training-throughput/variants.sh {' '.join(sys.argv[4:])} (MODEL={sys.argv[3]}); uptime per round in the .log beside this file.", "",
       "| threads | variant | img/s, best round | CPU ms / image, lowest | all rounds img/s (CPU ms / image) |", "|---|---|---|---|---|"]
for th in sorted({r['threads'] for r in rows}):
    for v in dict.fromkeys(r['variant'] for r in rows):
        rs = [r for r in rows if r['threads'] == th and r['variant'] == v]
        if rs:
            out.append(f"| {th} | {v} | {max(r['imagesPerSecond'] for r in rs)} | {min(r['cpuMsPerImage'] for r in rs)} | "
                       + ', '.join(f"{r['imagesPerSecond']} ({r['cpuMsPerImage']})" for r in rs) + " |")
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
print('\n'.join(out))
PY
