"""Tables of benchmarks/quantization/run.sh's results (quantize.jsonl, chain.jsonl) as Markdown."""
import json, os, sys

out, stamp = sys.argv[1], sys.argv[2]


def spread(row):
    """A speed-up with the interquartile range over its ABBA rounds, when the run recorded one."""
    if "speedupLow" in row and row["speedupHigh"] > row["speedupLow"]:
        return f'{row["speedup"]:.2f}x, {row["speedupLow"]:.2f}-{row["speedupHigh"]:.2f}'
    return f'{row["speedup"]:.2f}x'


rows = [json.loads(l) for l in open(os.path.join(out, "quantize.jsonl")) if l.strip()]
chain = [json.loads(l) for l in open(os.path.join(out, "chain.jsonl")) if l.strip()]
print(stamp.lstrip("# "))
print()
print("| model | calibration | fp32 top-1 | int8 top-1 | drop (pts) | agreement | fp32 bytes | int8 bytes | size ratio | b1 p50 fp32 / int8 ms | b64 p50 fp32 / int8 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    lat = {l["batch"]: l for l in r["latency"]}
    cells = [f'{lat[b]["floatP50Ms"]:.3f} / {lat[b]["int8P50Ms"]:.3f} ({spread(lat[b])})' if b in lat else "-" for b in (1, 64)]
    print(f'| {r["model"]} | {r["method"]} | {r["floatAccuracy"]:.2%} | {r["int8Accuracy"]:.2%} | {r["accuracyDropPoints"]:.2f} | {r["agreement"]:.2%} '
          f'| {r["floatBytes"]:,} | {r["int8Bytes"]:,} | {r["sizeRatio"]:.2f}x | {cells[0]} | {cells[1]} |')
print()
acc = {(r["model"], r["method"]): r for r in rows}
print("Chain against the dense fp32 model (speed-up = median over ABBA rounds of dense / model latency, with the rounds' interquartile range):")
print()
print("| model | top-1 | file bytes | b1 speed-up | b64 speed-up |")
print("|---|---|---|---|---|")
d = acc.get(("dense", "minmax")); p = acc.get(("pruned", "minmax"))
names = {0: ("pruned 2x fp32", p and p["floatAccuracy"], p and p["floatBytes"]),
         1: ("pruned 2x + int8 (min-max)", p and p["int8Accuracy"], p and p["int8Bytes"]),
         2: ("dense int8 (min-max)", d and d["int8Accuracy"], d and d["int8Bytes"])}
if d:
    print(f'| dense fp32 | {d["floatAccuracy"]:.2%} | {d["floatBytes"]:,} | 1.00x | 1.00x |')
for i, c in enumerate(chain):
    name, a, size = names.get(i, (c["model"]["name"], None, None))
    sp = {row["batch"]: spread(row) for row in c["results"]}
    print(f'| {name} | {a:.2%} | {size:,} | {sp.get(1, "-")} | {sp.get(64, "-")} |' if a is not None else f'| {name} | - | - | {sp.get(1, "-")} | {sp.get(64, "-")} |')
