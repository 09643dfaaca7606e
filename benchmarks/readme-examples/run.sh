#!/usr/bin/env bash
# The docs' examples that quote measured figures, re-run by one command:
#   sensitivity: `secateur sensitivity` on the quick-recipe ResNet-20 (docs/pruning.md "which layers tolerate pruning")
#   report:      the dynamic 2x prune whose HTML report is docs/report.png (docs/reports.md "Reports"), then the screenshot
#                (chromium headless, 1100 px wide, as the first one was made).
# Results: results/sensitivity.json, results/resnet20-2x.{json,md,html} (the page without its png), results/*.meta
# (date, machine, load, exact command); docs/report.png is overwritten.
# Usage: benchmarks/readme-examples/run.sh [all|sensitivity|report]   Time: 10-30 minutes on 2 cores (more under load).
# Each part is skipped when its result exists (delete it to re-run): a rerun resumes.
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/readme-examples/results"
model="$root/benchmarks/baseline-accuracy/results/resnet20-quick.onnx"
mkdir -p "$out"
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
meta() { # file, command...
  local file=$1; shift
  { echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# command: secateur $*"; } > "$file"
}
if [[ $what == all || $what == sensitivity ]] && [[ ! -s $out/sensitivity.json ]]; then
  args=(sensitivity "$model" --data fashion-mnist --ratios 0.25,0.5,0.75 --validation-images 1000 --json)
  meta "$out/sensitivity.meta" "${args[@]}"
  secateur "${args[@]}" > "$out/sensitivity.json.part" && mv "$out/sensitivity.json.part" "$out/sensitivity.json"
fi
if [[ $what == all || $what == report ]]; then
  if [[ ! -s $out/resnet20-2x.json ]]; then
    args=(prune "$model" --data fashion-mnist --criterion reconstruction --speedup 2 --schedule dynamic --steps 3 --tolerance 0.02
      --finetune-epochs 1 --train-limit 6000 --report "$out/resnet20-2x.html" -o "$bin/resnet20-2x.onnx")
    meta "$out/resnet20-2x.meta" "${args[@]}"
    secateur "${args[@]}" > "$out/resnet20-2x.out"
  fi
  secateur report "$out/resnet20-2x.json" -o "$out/resnet20-2x.html" >/dev/null # re-rendered by this build
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1750 \
    --screenshot="$root/docs/report.png" "file://$out/resnet20-2x.html" 2>/dev/null
fi
