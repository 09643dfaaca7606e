#!/usr/bin/env bash
# Segmentation benchmark: the zoo U-Net on the Fashion-MNIST segmentation set (`secateur make-dataset fashion-seg`).
#   data:   the set: CANVASES_TRAIN training and CANVASES_TEST test canvases of SIZE x SIZE, 1-4 garments, seed 0
#   dense:  train the U-Net from scratch (EPOCHS epochs, SGD one-cycle at LR, batch 32) -> dense mIoU
#   prune [FLAGS...]: L1 uniform, --round-to 1, 2x and 4x fewer MACs: mIoU right after pruning, after BN
#           recalibration, after FT_EPOCHS epochs of fine-tuning with the masks. Any FLAGS are passed to prune and
#           name the result files (e.g. `run.sh prune --refit` -> prune-2x-refit.json; `run.sh prune --label-free`):
#           the refit and label-free rows come from other branches and run with the same data and dense model.
#   table:  results/summary.md from every results/*.json
# Usage: benchmarks/segmentation/run.sh [data|dense|prune [FLAGS...]|table|all]
#   env: THREADS=2, WORK=dir for data and checkpoints, FACTORS="2 4" (e.g. FACTORS=4 to run one factor beside another),
#        OUT=dir for the result files (default results/; the short recipe experiments went to results/explore/),
#        CLI=dir of the published CLI (default WORK/cli; REBUILD=1 republishes it)
# Every step resumes: the training and fine-tuning write a checkpoint after every epoch (--checkpoint/--resume),
# and a step whose result file exists is skipped (delete it to rerun). A fine-tuning checkpoint's name carries FT_EPOCHS:
# a run of another length must not resume it (its learning-rate schedule is another one).
set -euo pipefail
what=${1:-all}; shift || true
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/benchmarks/segmentation/results}; mkdir -p "$out"
work=${WORK:-$root/benchmarks/segmentation/work}; mkdir -p "$work"
SIZE=${SIZE:-48} CANVASES_TRAIN=${CANVASES_TRAIN:-800} CANVASES_TEST=${CANVASES_TEST:-200}
EPOCHS=${EPOCHS:-4} FT_EPOCHS=${FT_EPOCHS:-2} LR=${LR:-0.1} THREADS=${THREADS:-2}
data="$work/fashion-seg-$SIZE-$CANVASES_TRAIN-$CANVASES_TEST"
cli=${CLI:-$work/cli}
if [[ ! -f $cli/Secateur.Cli.dll || ${REBUILD:-0} == 1 ]]; then dotnet publish "$root/src/Secateur.Cli" -c Release -o "$cli" >/dev/null; fi
secateur() { dotnet "$cli/Secateur.Cli.dll" "$@"; }
machine="$(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# Runs one step: its JSON summary goes to results/NAME.json, with the command, the time and the load before and after.
step() {
  local name=$1; shift
  if [[ -f $out/$name.json ]]; then echo "skip $name (results/$name.json exists)"; return; fi
  local before; before=$(uptime); local start; start=$(date +%s)
  secateur "$@" --json > "$work/$name.raw.json"
  local after; after=$(uptime)
  /usr/bin/python3 - "$work/$name.raw.json" "$out/$name.json" "$*" "$before" "$after" "$(( $(date +%s) - start ))" "$machine" <<'PY'
import json, sys
raw, dest, command, before, after, seconds, machine = sys.argv[1:]
result = json.load(open(raw))
for k in ("groups", "steps"): result.pop(k, None)
json.dump({"command": "secateur " + command, "date": __import__("datetime").datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"),
           "machine": machine, "uptimeBefore": before.strip(), "uptimeAfter": after.strip(), "wallSeconds": int(seconds), "result": result},
          open(dest, "w"), indent=1)
PY
  echo "wrote results/$name.json"
}
if [[ $what == data || $what == all ]]; then
  [[ -f $data/classes.txt ]] || secateur make-dataset fashion-seg -o "$data" --train "$CANVASES_TRAIN" --test "$CANVASES_TEST" --size "$SIZE" --seed 0
fi
if [[ $what == dense || $what == all ]]; then
  step dense train unet --data "segfolder:$data" --epochs "$EPOCHS" --batch-size 32 --lr "$LR" --seed 0 --threads "$THREADS" \
    --checkpoint "$work/dense.ckpt" --resume -o "$work/unet-dense.onnx"
fi
if [[ $what == prune || $what == all ]]; then
  tag=$(printf '%s' "$*" | tr -s ' =' '--' | tr -cd 'a-zA-Z0-9.-' | sed 's/^-*//'); tag=${tag:+-$tag}
  for f in ${FACTORS:-2 4}; do
    step "prune-${f}x$tag" prune "$work/unet-dense.onnx" --data "segfolder:$data" --speedup "$f" --round-to 1 --criterion l1 \
      --finetune-epochs "$FT_EPOCHS" --batch-size 32 --seed 0 --threads "$THREADS" --checkpoint "$work/prune-${f}x$tag-ft$FT_EPOCHS.ckpt" --resume \
      -o "$work/unet-${f}x$tag.onnx" "$@"
  done
fi
if [[ $what == table || $what == all || $what == dense || $what == prune ]]; then
  /usr/bin/python3 - "$out" <<'PY'
import json, os, sys, glob
out = sys.argv[1]
def pct(v): return "-" if v is None else f"{100 * v:.2f}%"
rows = ["| run | params | MACs | mIoU before | right after pruning | after BN recalibration | after fine-tuning (masks) | pixel accuracy | wall time | load (1-min, before → after) |", "|---|---|---|---|---|---|---|---|---|---|"]
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    d = json.load(open(path)); r = d["result"]; name = os.path.basename(path)[:-5]
    load = lambda u: u.split("load average:")[1].split(",")[0].strip()
    tail = f"{d['wallSeconds'] / 60:.1f} min | {load(d['uptimeBefore'])} → {load(d['uptimeAfter'])} |"
    if "miou" in r:
        rows.append(f"| {name} | {r['params']:,} | {r['macs']:,} | {pct(r['miou'])} | | | | {pct(r['pixelAccuracy'])} | {tail}")
    else:
        rows.append(f"| {name} ({r['macsSpeedup']:.2f}x MACs) | {r['paramsAfter']:,} | {r['macsAfter']:,} | {pct(r['accuracyBefore'])} | {pct(r['accuracyPruned'])} | {pct(r['accuracyRecalibrated'])} | {pct(r['accuracyFinetuned'])} | | {tail}")
open(os.path.join(out, "summary.md"), "w").write("# Segmentation benchmark (benchmarks/segmentation/run.sh)\n\nmIoU on the generated test canvases; commands, dates and machine in each JSON file.\n\n" + "\n".join(rows) + "\n")
print("\n".join(rows))
PY
fi
