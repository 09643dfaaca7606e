#!/usr/bin/env bash
# Per-phase breakdown of a training step, Secateur (Trainer.Profile, a TrainingProfile) and PyTorch for Python
# (perf_counter timers around the same phases), side by side in one run: for every thread count the runtimes
# alternate ROUNDS times; every run's phase table goes to breakdown.log, its JSON line to breakdown.jsonl, and the
# round with the best total of each runtime is summarised in breakdown.md. `uptime` is recorded before and after
# every round (the machine is shared: only ratios within a round mean anything).
# Usage: benchmarks/training-throughput/breakdown.sh [BATCHES=10] [ROUNDS=2] [THREADS="1 2"]
#   env MODEL=resnet20|mobilenetv2; BIN=<dir with a built Secateur.Benchmarks.dll> (default: publishes one);
#   VARIANTS="prefetch no-prefetch" (Secateur loader variants, see Program.cs)
set -euo pipefail
batches=${1:-10}; rounds=${2:-2}; threads=${3:-"1 2"}
model=${MODEL:-resnet20}
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benchmarks/training-throughput"
if [[ -z ${BIN:-} ]]; then BIN=$(mktemp -d); trap 'rm -rf "$BIN"' EXIT; dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$BIN" >/dev/null; fi
out=${OUT:-$here/results}
mkdir -p "$out"
log="$out/breakdown-$model.log"; raw="$out/breakdown-$model.jsonl"
: > "$log"; : > "$raw"
for th in $threads; do
  for r in $(seq "$rounds"); do
    echo "## round $r, $th thread(s): $(uptime)" >> "$log"
    /usr/bin/python3 "$here/torch_reference.py" "$model" "$batches" --threads "$th" --warmup 3 --profile >> "$raw" 2>> "$log"
    for v in ${VARIANTS:-prefetch}; do
      flag=; [[ $v == no-prefetch ]] && flag=--no-prefetch
      dotnet "$BIN/Secateur.Benchmarks.dll" throughput "$model" "$batches" --threads "$th" --warmup 3 --profile $flag >> "$raw" 2>> "$log"
    done
    echo "## after round $r: $(uptime)" >> "$log"
  done
done
/usr/bin/python3 - "$raw" "$out/breakdown-$model.md" "$model" "$batches" "$rounds" "$threads" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
model = sys.argv[3]
out = [f"# Training-step breakdown, {model}, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
       f"Command: benchmarks/training-throughput/breakdown.sh {' '.join(sys.argv[4:])} (MODEL={model}). Milliseconds per batch of 128,",
       "mean over the measured batches of each runtime's best run; every run and `uptime` are in the .log beside this file.", ""]
for th in sorted({r['threads'] for r in rows}):
    best = {}
    for r in rows:
        if r['threads'] == th and (r['runtime'] not in best or r['imagesPerSecond'] > best[r['runtime']]['imagesPerSecond']):
            best[r['runtime']] = r
    names = list(best)
    phases = []
    for r in best.values():
        phases += [p for p in r['phasesMsPerBatch'] if p not in phases]
    out += [f"## {th} thread(s)", "", "| phase | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for p in phases:
        out.append(f"| {p} | " + " | ".join(str(best[n]['phasesMsPerBatch'].get(p, '–')) for n in names) + " |")
    out.append("| **img/s** | " + " | ".join(str(best[n]['imagesPerSecond']) for n in names) + " |")
    out.append("| all runs, img/s | " + " | ".join(', '.join(str(r['imagesPerSecond']) for r in rows if r['threads'] == th and r['runtime'] == n) for n in names) + " |")
    gcs = [f"{n}: {best[n]['gc']}" for n in names if best[n].get('gc')]
    if gcs: out += ["", "GC during the measured batches: " + "; ".join(gcs)]
    out.append("")
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
print('\n'.join(out))
PY
