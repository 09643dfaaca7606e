"""Markdown table of benchmarks/quantization/int8-speed.sh's results (int8-speed.jsonl): before vs after, per model."""
import json, os, sys

out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "int8-speed.jsonl")) if l.strip()]
meta = open(os.path.join(out, "int8-speed.meta")).read().strip()
print("\n".join(l.lstrip("# ") for l in meta.splitlines()))
print()
print("Speed-up = fp32 / int8 latency, median over the ABBA rounds of one `bench --against` run (interquartile range of the rounds); "
      "goal >= 1.30x. Load = 1-minute load average before -> after the bench run.")
print()
print("| model | quantizer | threads | runs | b1 fp32 / int8 p50 ms | b1 speed-up | b32 fp32 / int8 p50 ms | b32 speed-up | fp32 top-1 | int8 top-1 | agreement | int8 bytes | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    cells = []
    for b in (1, 32):
        x = next((x for x in r["bench"] if x["batch"] == b), None)
        if x is None:
            cells += ["-", "-"]; continue
        ok = "" if x["speedup"] >= 1.3 else " (miss)"
        cells += [f'{x["fp32P50Ms"]:.3f} / {x["int8P50Ms"]:.3f}', f'**{x["speedup"]:.2f}x**{ok} ({x["speedupLow"]:.2f}-{x["speedupHigh"]:.2f})']
    acc = (f'{r["floatTop1"]:.2%}', f'{r["int8Top1"]:.2%}') if r["trained"] else (f'({r["floatTop1"]:.0%})', f'({r["int8Top1"]:.0%})')
    acc += (f'{r["agreement"]:.2%}',)
    print(f'| {r["model"]} | {r["quantizer"]} | {r["threads"]} | {r["runs"]} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {acc[0]} | {acc[1]} | {acc[2]} | {r["int8Bytes"]:,} | {r["loadBefore"].split()[0]} -> {r["loadAfter"].split()[0]} |')
print()
print("Accuracy in parentheses: not a trained model (2x prunes without recalibration or fine-tuning; ResNet-18 with random "
      "weights on upscaled Fashion-MNIST), so only the agreement of int8 with fp32 means something there.")
