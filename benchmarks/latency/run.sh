#!/usr/bin/env bash
# Latency with ONNX Runtime: does a MACs cut become a speed-up, and does rounding channel counts help?
# For each model, prune (L1, uniform, data-free) to 2x and 4x fewer MACs with --round-to 1, 8 and 16, then time
# pruned vs dense with `secateur bench --against` (interleaved A,B,A,B..., p50/p90, 2 ORT threads) at batch 1 and 64.
# Weights are the zoo's deterministic initialisation: latency does not depend on their values, only on the shapes.
#   all:   resnet20 (1x28x28), mobilenetv2 (CIFAR-style, 1x28x28), resnet18 (3x112x112; R18_INPUT=3x224x224 for full size)
#          -> results/latency.jsonl (one line per model, target, rounding and batch) + results/summary.md
#   resnet20|mobilenetv2|resnet18: that model alone, as in `all` -> results/MODEL/
#   smoke: resnet20 only, 2x, --round-to 1 and 8, batch 1 and 8, 10 runs (about a minute) -> results/smoke/
# Usage: benchmarks/latency/run.sh [all|resnet20|mobilenetv2|resnet18|smoke]   (env: THREADS=2 RUNS=50 SECONDS_PER_BATCH=20 WARMUP=5 R18_INPUT=3x112x112)
# Time: about 10-15 minutes for `all` on a quiet 2-core machine (each batch size is capped at SECONDS_PER_BATCH).
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${THREADS:-2}; runs=${RUNS:-50}; budget=${SECONDS_PER_BATCH:-20}; warmup=${WARMUP:-5}
r18=${R18_INPUT:-3x112x112}
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
case $what in
  all)   out="$root/benchmarks/latency/results"; models=("resnet20:1x28x28" "mobilenetv2:1x28x28" "resnet18:$r18"); speedups=(2 4); rounds=(1 8 16); batches=1,64 ;;
  resnet20|mobilenetv2) out="$root/benchmarks/latency/results/$what"; models=("$what:1x28x28"); speedups=(2 4); rounds=(1 8 16); batches=1,64 ;;
  resnet18) out="$root/benchmarks/latency/results/$what"; models=("resnet18:$r18"); speedups=(2 4); rounds=(1 8 16); batches=1,64 ;;
  smoke) out="$root/benchmarks/latency/results/smoke"; models=("resnet20:1x28x28"); speedups=(2); rounds=(1 8); batches=1,8; runs=10; warmup=2; budget=5 ;;
  *) echo "usage: $0 [all|resnet20|mobilenetv2|resnet18|smoke]" >&2; exit 2 ;;
esac
mkdir -p "$out"
stamp="$(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
jsonl="$out/latency.jsonl"
{ echo "# $stamp"
  echo "# secateur prune MODEL --input SHAPE --speedup S --round-to R; secateur bench PRUNED --against MODEL --input SHAPE --batch $batches --threads $threads --warmup $warmup --runs $runs --seconds $budget --json"; } > "$jsonl"
for spec in "${models[@]}"; do
  model=${spec%%:*}; shape=${spec#*:}
  for s in "${speedups[@]}"; do
    for r in "${rounds[@]}"; do
      pruned="$bin/$model-${s}x-r$r.onnx"
      # A target that rounding makes unreachable (e.g. 4x with --round-to 16 when the first groups have 16 channels, which
      # must stay whole) exits 6: record it as such and go on with the other configurations.
      status=0
      secateur prune "$model" --input "$shape" --speedup "$s" --round-to "$r" --threads "$threads" -o "$pruned" --json > "$bin/prune.json" 2> "$bin/prune.err" || status=$?
      if [ "$status" -ne 0 ]; then
        [ "$status" -eq 6 ] || { cat "$bin/prune.err" >&2; exit "$status"; }
        python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "input": sys.argv[2], "targetSpeedup": float(sys.argv[3]), "roundTo": int(sys.argv[4]), "unreachable": open(sys.argv[5]).read().strip()}))' \
          "$model" "$shape" "$s" "$r" "$bin/prune.err" >> "$jsonl"
        continue
      fi
      echo "$model $shape: ${s}x MACs, --round-to $r: timing pruned vs dense ..." >&2
      secateur bench "$pruned" --against "$model" --input "$shape" --batch "$batches" --threads "$threads" \
        --warmup "$warmup" --runs "$runs" --seconds "$budget" --json > "$bin/bench.json"
      python3 - "$bin/prune.json" "$bin/bench.json" "$model" "$shape" "$s" "$r" >> "$jsonl" <<'PY'
import json, sys
prune, bench = (json.load(open(p)) for p in sys.argv[1:3])
model, shape, s, r = sys.argv[3:7]
for row in bench["results"]:
    print(json.dumps({"model": model, "input": shape, "targetSpeedup": float(s), "roundTo": int(r),
        "macsDense": bench["baseline"]["macs"], "macsPruned": bench["model"]["macs"], "macsRatio": round(bench["macsRatio"], 4),
        "paramsPruned": bench["model"]["params"], "batch": row["batch"], "threads": bench["threads"],
        "denseP50Ms": round(row["baseline"]["p50Ms"], 4), "denseP90Ms": round(row["baseline"]["p90Ms"], 4),
        "prunedP50Ms": round(row["model"]["p50Ms"], 4), "prunedP90Ms": round(row["model"]["p90Ms"], 4),
        "runs": row["model"]["runs"], "speedup": round(row["speedup"], 4),
        "speedupLow": round(row["speedupLow"], 4), "speedupHigh": round(row["speedupHigh"], 4), "rounds": row["rounds"],
        "denseImagesPerSecond": round(row["baseline"]["imagesPerSecond"], 1), "prunedImagesPerSecond": round(row["model"]["imagesPerSecond"], 1)}))
PY
    done
  done
done
python3 - "$jsonl" "$stamp" > "$out/summary.md" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if not l.startswith("#")]
rows = [json.loads(l) for l in lines]
print("# Latency with ONNX Runtime: pruned vs dense\n")
print(f"{sys.argv[2]} ({len(rows)} rows). Uniform L1 pruning of the zoo models (deterministic initial weights), timed against the dense")
print("model by `secateur bench --against` in ABBA rounds (p50 of one batch; speed-up = median over rounds of dense / pruned")
print("latency, with the rounds' interquartile range). Raw data: latency.jsonl.\n")
print("| model | input | MACs target | --round-to | MACs ratio | batch | dense p50 ms | pruned p50 ms | speed-up (IQR over rounds) | runs |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "unreachable" in r:
        print(f"| {r['model']} | {r['input']} | {r['targetSpeedup']:g}x | {r['roundTo']} | not reachable | | | | {r['unreachable'].removeprefix('error: ')} | |")
        continue
    print(f"| {r['model']} | {r['input']} | {r['targetSpeedup']:g}x | {r['roundTo']} | {r['macsRatio']:.2f}x | {r['batch']} | "
          f"{r['denseP50Ms']:.3f} | {r['prunedP50Ms']:.3f} | **{r['speedup']:.2f}x** ({r['speedupLow']:.2f}-{r['speedupHigh']:.2f}, {r['rounds']} rounds) | {r['runs']} |")
PY
cat "$out/summary.md"
