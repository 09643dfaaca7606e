#!/usr/bin/env bash
# The protocol's quick recipe end to end (recipes/resnet20-quick.yaml: train ResNet-20 5 epochs, L1 prune 2x, fine-tune
# 3 epochs) at each PRECISION, the runs started TOGETHER with THREADS threads each so that they share the machine's
# load equally (on a shared machine that is what makes their wall times comparable). Records wall time, process CPU
# time and peak RSS (/usr/bin/time -v), dense and pruned test top-1 from the reports.
# Usage: benchmarks/training-throughput/quick-recipe.sh   (env PRECISIONS="fp32 bf16" THREADS=1 OUT=results/quick-recipe;
#   TABLE_ONLY=1 rebuilds results.md from finished runs)
# Needs: apt-get install dataset-fashion-mnist. bf16 needs a CPU with AVX-512 BF16 or AMX (secateur refuses otherwise).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benchmarks/training-throughput"
out=${OUT:-$here/results/quick-recipe}; mkdir -p "$out"
threads=${THREADS:-1}
if [[ -z ${TABLE_ONLY:-} ]]; then
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin" >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $threads each; start: $(uptime)" > "$out/run.meta"
pids=()
for p in ${PRECISIONS:-fp32 bf16}; do
  work="$out/work-$p"; mkdir -p "$work"
  { grep -v '^threads:' "$root/recipes/resnet20-quick.yaml"; echo "threads: $threads"; echo "precision: $p"; } > "$work/recipe.yaml"
  ( cd "$work" && /usr/bin/time -v dotnet "$bin/Secateur.Cli.dll" run recipe.yaml > run.out 2> run.err ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "# end: $(uptime)" >> "$out/run.meta"
fi
/usr/bin/python3 - "$out" ${PRECISIONS:-fp32 bf16} <<'PY'
import json, re, sys, os
out, precisions = sys.argv[1], sys.argv[2:]
rows = ["| precision | dense top-1 (5 epochs) | pruned 2x + 3 epochs top-1 | wall time | CPU time (user+sys) | peak RSS |", "|---|---|---|---|---|---|"]
for p in precisions:
    w = os.path.join(out, f"work-{p}")
    err = open(os.path.join(w, "run.err")).read()
    def field(name):
        m = re.search(re.escape(name) + r": (.+)", err); return m.group(1).strip() if m else "?"
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)")) / 1024
    stages = {a["stage"]: a["value"] for a in json.load(open(os.path.join(w, "resnet20-quick-l1-2x.json")))["accuracy"]}
    rows.append(f"| {p} | {stages['before pruning']*100:.2f}% | {stages['after fine-tuning']*100:.2f}% | {wall} | {cpu:.0f} s | {rss:.0f} MB |")
open(os.path.join(out, "results.md"), "w").write(open(os.path.join(out, "run.meta")).read() + "\n" + "\n".join(rows) + "\n")
print("\n".join(rows))
PY
