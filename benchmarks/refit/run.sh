#!/usr/bin/env bash
# Least-squares refit after pruning (issue 13), on the benchmark protocol's full-recipe ResNet-20 (94.36%,
# benchmarks/baseline-accuracy/results/resnet20-full.onnx) and on torchvision-layout ResNet-50.
#   accuracy: right after pruning, no fine-tuning: L1 and reconstruction at 2x and 4x (--round-to 1), BN recalibration
#             only vs refit + recalibration, test accuracy on the full Fashion-MNIST test split
#   sweep:    refit images / ridge / positions choices at L1 4x (refit + recalibration)
#   folded:   the same model with every batch norm folded into its convolution (what an eval-mode export ships), L1 at
#             2x and 4x: right after pruning, batch-norm recovery only (--bn-recovery on), refit, refit + BN recovery
#   cost:     refit of ResNet-50 (3x224x224) pruned 2x on 256 images, wall time and peak memory (/usr/bin/time -v)
# Every run appends one JSON line (with the command and the machine load) to results/*.jsonl; a configuration already
# recorded there is skipped, so a rerun resumes. Usage: benchmarks/refit/run.sh [accuracy|sweep|folded|rerun|cost|all] (env THREADS=2;
# ONLY=regex runs only the matching configurations, so that several can run side by side; BIN=dir reuses a published build).
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/benchmarks/refit/results"; mkdir -p "$out"
base="$root/benchmarks/baseline-accuracy/results/resnet20-full.onnx"
bin=${BIN:-$out/.bin}; mkdir -p "$bin"
if [[ -z ${BIN:-} ]]; then
  dotnet publish "$root/src/Secateur.Cli" -c Release -o "$bin/cli" >/dev/null
  dotnet publish "$root/benchmarks/Secateur.Benchmarks" -c Release -o "$bin/bench" >/dev/null
fi
machine="$(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
secateur() { dotnet "$bin/cli/Secateur.Cli.dll" "$@"; }
# One prune run: name, then prune options; skipped when results/$file already has a line for name.
run() {
  local file=$1 name=$2; shift 2
  if [[ -f $out/$file ]] && grep -q "\"name\": \"$name\"" "$out/$file"; then echo "skip $name (recorded)"; return; fi
  if [[ -n ${ONLY:-} && ! $name =~ $ONLY ]]; then return; fi
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  local model=${MODEL:-$base}
  local cmd="secateur prune $(basename "$model") --round-to 1 --data fashion-mnist $* --threads ${THREADS:-2} --json"
  secateur prune "$model" --round-to 1 --data fashion-mnist "$@" --threads "${THREADS:-2}" -o "$bin/$name.onnx" --json 2> "$bin/$name.log" \
    | NAME="$name" CMD="$cmd" LOAD="$load" MACHINE="$machine" /usr/bin/python3 -c "
import json, os, sys, datetime
d = json.load(sys.stdin)
keep = ['criterion', 'speedup', 'paramsAfter', 'macsAfter', 'accuracyBefore', 'accuracyPruned', 'accuracyRefit', 'accuracyBnRecovered', 'accuracyRecalibrated', 'totalSeconds']
r = {'name': os.environ['NAME']} | {k: d.get(k) for k in keep}
r |= {'command': os.environ['CMD'], 'loadAtStart': os.environ['LOAD'], 'machine': os.environ['MACHINE'], 'date': datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%MZ')}
print(json.dumps(r))" | tee -a "$out/$file"
  rm -f "$bin/$name.onnx"
}
if [[ $what == accuracy || $what == all ]]; then
  for s in 2 4; do
    for c in l1 reconstruction; do
      run accuracy.jsonl "$c-${s}x-refit" --speedup "$s" --criterion "$c" --refit
      run accuracy.jsonl "$c-${s}x-recalibrate" --speedup "$s" --criterion "$c"
    done
  done
fi
if [[ $what == sweep || $what == all ]]; then
  run sweep.jsonl l1-4x-images1024 --speedup 4 --criterion l1 --refit --refit-images 1024
  run sweep.jsonl l1-4x-ridge1e-1 --speedup 4 --criterion l1 --refit --refit-ridge 0.1
  run sweep.jsonl l1-4x-ridge1e-5 --speedup 4 --criterion l1 --refit --refit-ridge 0.00001
  run sweep.jsonl l1-4x-positions256 --speedup 4 --criterion l1 --refit --refit-positions 256
  run sweep.jsonl l1-4x-norecal --speedup 4 --criterion l1 --refit --recalibrate 0
fi
if [[ $what == folded || $what == all ]]; then
  folded="$bin/resnet20-full-folded.onnx"
  [[ -f $folded ]] || dotnet "$bin/bench/Secateur.Benchmarks.dll" fold-bn "$base" "$folded" | tee "$out/folded-model.json"
  for s in 2 4; do
    # accuracyPruned of these runs is "right after pruning", accuracyRefit "refit only": two runs give all four stages.
    MODEL=$folded run folded.jsonl "l1-${s}x-folded-bnrecovery" --speedup "$s" --criterion l1 --bn-recovery on
    MODEL=$folded run folded.jsonl "l1-${s}x-folded-refit-bnrecovery" --speedup "$s" --criterion l1 --refit --bn-recovery on
  done
fi
if [[ $what == rerun ]]; then
  # One accuracy configuration again after the refit's memory and speed rework (streamed dense targets, float32
  # per-batch products above 256 regressors), to compare with its line in accuracy.jsonl.
  run rerun.jsonl l1-2x-refit-streamed --speedup 2 --criterion l1 --refit
  # Again after the pruned model streams too (values live between refit layers only, rows folded in batch by batch,
  # block-triangular XᵀX, intercept products as column sums).
  run rerun.jsonl l1-2x-refit-frontier --speedup 2 --criterion l1 --refit
  run rerun.jsonl l1-4x-refit-frontier --speedup 4 --criterion l1 --refit
fi
if [[ $what == cost || $what == all ]]; then
  # Self-contained: builds, prunes and refits; a few minutes on a quiet 2-core machine. Wall times depend on the load,
  # so the line also records CPU seconds (in-process, of the refit and of the same-run plain dense forward, whose
  # ratio is load-robust) and the whole process's user+sys and CPU% from /usr/bin/time -v.
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  uptime_before=$(uptime)
  /usr/bin/time -v dotnet "$bin/bench/Secateur.Benchmarks.dll" refit-speed --images "${IMAGES:-256}" --threads "${THREADS:-2}" > "$bin/cost.json" 2> "$bin/cost.log"
  uptime_after=$(uptime)
  field() { grep "$1" "$bin/cost.log" | awk -F': ' '{print $NF}'; }
  LOAD="$load" UPB="$uptime_before" UPA="$uptime_after" PEAK="$(field 'Maximum resident set size')" USER_S="$(field 'User time')" SYS_S="$(field 'System time')" \
  CPU="$(field 'Percent of CPU')" WALL="$(field 'Elapsed (wall clock)')" MACHINE="$machine" /usr/bin/python3 -c "
import json, os, datetime
d = json.load(open('$bin/cost.json'))
d |= {'peakRssMB': round(int(os.environ['PEAK']) / 1024), 'processUserSeconds': float(os.environ['USER_S']), 'processSysSeconds': float(os.environ['SYS_S']),
      'processCpuPercent': os.environ['CPU'], 'processWall': os.environ['WALL'], 'loadAtStart': os.environ['LOAD'],
      'uptimeBefore': os.environ['UPB'].strip(), 'uptimeAfter': os.environ['UPA'].strip(), 'machine': os.environ['MACHINE'],
      'command': 'dotnet Secateur.Benchmarks.dll refit-speed --images ${IMAGES:-256} --threads ${THREADS:-2} (under /usr/bin/time -v)',
      'date': datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%MZ')}
print(json.dumps(d))" | tee -a "$out/cost.jsonl"
  grep -v '^\[' "$bin/cost.log" | grep -E 'Elapsed|Maximum resident|Percent of CPU' || true
  grep '^\[' "$bin/cost.log" > "$out/cost-progress.log" || true
fi
