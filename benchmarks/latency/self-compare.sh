#!/usr/bin/env bash
# A model against itself (issue 18): `bench FILE --against FILE` must read 1.00. Times each model against itself
# with the given CLI build, REPS times, at batch 1 and 32, with 1 and 2 ORT threads, and prints one line per
# measurement: model, threads, batch, speed-up, and each model's p50 in ms.
# Usage: benchmarks/latency/self-compare.sh [CLI_DLL] [REPS]   (env: MODELS="resnet20 mobilenetv2" RUNS=50)
#   CLI_DLL: a built Secateur.Cli.dll (default: this checkout's Release build, built if missing), e.g. a build of an
#   older commit, to measure before and after a change side by side.
# Time: about a minute per repetition on the quiet 2-core machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-$root/src/Secateur.Cli/bin/Release/net10.0/Secateur.Cli.dll}
reps=${2:-3}
models=${MODELS:-resnet20 mobilenetv2}
runs=${RUNS:-50}
[ -f "$cli" ] || dotnet build "$root/src/Secateur.Cli" -c Release >/dev/null
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cat > "$dir/row.py" <<'PY'
import json, os, sys
d = json.load(sys.stdin)
for r in d["results"]:
    print(f"{os.environ['M']} threads {os.environ['T']} batch {r['batch']:>2}: speed-up {r['speedup']:.3f}"
          f"  p50 {r['baseline']['p50Ms']:.3f} / {r['model']['p50Ms']:.3f} ms")
PY
for m in $models; do dotnet "$cli" export "$m" -o "$dir/$m.onnx" >/dev/null; done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $cli, $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$reps"); do
  for m in $models; do
    for t in 1 2; do
      dotnet "$cli" bench "$dir/$m.onnx" --against "$dir/$m.onnx" --batch 1,32 --threads "$t" --runs "$runs" --json 2>/dev/null |
        M="$m" T="$t" python3 "$dir/row.py"
    done
  done
done
