#!/usr/bin/python3
"""Summary of benchmarks/preprocessing/run.sh: PyTorch's, Secateur's and ONNX Runtime's accuracies side by side.

    /usr/bin/python3 benchmarks/preprocessing/summary.py RESULTS_DIR   (writes summary.json, prints Markdown)
"""
import json
import os
import sys

out = sys.argv[1]


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


torch = load("pytorch.json")
ev = load("eval.json")
pr = load("prune.json")
ort = {d["file"]: d for d in (json.loads(line) for line in open(os.path.join(out, "ort.jsonl")) if line.strip())}
choice = ev.get("preprocessingChoice") or {}
one_image = 1.0 / ort["model.onnx"]["testImages"]
checks = {
    "eval picked unit": choice.get("chosen") == "unit",
    "eval = ORT on the original": abs(ev["accuracy"] - ort["model.onnx"]["accuracy"]) <= one_image / 2,
    "prune's before = ORT on the original": abs(pr["accuracyBefore"] - ort["model.onnx"]["accuracy"]) <= one_image / 2,
    "prune's after fine-tuning = ORT on the pruned file": abs(pr["accuracyFinetuned"] - ort["pruned.onnx"]["accuracy"]) <= one_image / 2,
}
summary = {
    "pytorchAccuracy": torch["testAccuracy"], "epochs": torch["epochs"],
    "secateurEval": {"accuracy": ev["accuracy"], "preprocessing": ev.get("preprocessing"), "choice": choice},
    "secateurPrune": {k: pr.get(k) for k in ("accuracyBefore", "accuracyPruned", "accuracyFinetuned", "speedup", "paramsBefore", "paramsAfter", "macsBefore", "macsAfter", "preprocessing")},
    "ortOriginal": ort["model.onnx"]["accuracy"], "ortPruned": ort["pruned.onnx"]["accuracy"], "ortRuntime": ort["model.onnx"]["runtime"],
    "checks": checks,
}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)

pct = lambda x: f"{100 * x:.2f}%"
meta = open(os.path.join(out, "run.meta")).read().strip()
print("# Issue 17's full-data case: a [0, 1] PyTorch CNN through eval and prune\n")
print("```\n" + meta + "\n```\n")
print("| figure | accuracy on the 10,000 test images |\n|---|---|")
epochs = f"{torch['epochs']} epoch" + ("" if torch["epochs"] == 1 else "s")
print(f"| PyTorch {torch['framework'].split()[-1]}, after {epochs} (ToTensor() only) | {pct(torch['testAccuracy'])} |")
print(f"| ONNX Runtime, exported file, fed pixels / 255 | {pct(ort['model.onnx']['accuracy'])} |")
print(f"| `secateur eval` (picked `{choice.get('chosen')}`) | {pct(ev['accuracy'])} |")
print(f"| `secateur prune` report: before | {pct(pr['accuracyBefore'])} |")
print(f"| `secateur prune` report: after fine-tuning (1 epoch) | {pct(pr['accuracyFinetuned'])} |")
print(f"| ONNX Runtime, pruned file, fed pixels / 255 | {pct(ort['pruned.onnx']['accuracy'])} |")
print(f"\nPruned: MACs {pr.get('macsBefore'):,} -> {pr.get('macsAfter'):,} ({pr.get('speedup'):.2f}x), params {pr.get('paramsBefore'):,} -> {pr.get('paramsAfter'):,}; right after pruning {pct(pr['accuracyPruned'])}.")
print(f"\nPreprocessing choice: {choice.get('reason')}\n")
print("Checks (equal within half an image):\n")
for k, v in checks.items():
    print(f"- {k}: {'yes' if v else 'NO'}")
