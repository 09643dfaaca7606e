"""Torch-Pruning's side of the ResNet-50 speed benchmark: dependency graph + uniform L1 pruning to half the channels.

Run with a Torch-Pruning checkout on PYTHONPATH (PyPI is not reachable on the benchmark machines; the source of
v1.6.1 imports and runs on Debian's torch 1.13):  PYTHONPATH=/path/to/Torch-Pruning /usr/bin/python3 tp_speed.py
Prints one JSON line like Secateur.Benchmarks' prune-speed: best of 10 runs after one warm-up.
"""
import json, time
import torch, torchvision
import torch_pruning as tp

torch.set_num_threads(2)
runs = []
for i in range(11):
    model = torchvision.models.resnet50()  # outside the timed region, as Secateur's zoo graph is
    example = torch.randn(1, 3, 224, 224)
    t0 = time.perf_counter()
    pruner = tp.pruner.MagnitudePruner(model, example, importance=tp.importance.MagnitudeImportance(p=1),
                                       pruning_ratio=0.5, ignored_layers=[model.fc])
    t1 = time.perf_counter()
    pruner.step()
    t2 = time.perf_counter()
    if i > 0:
        runs.append((t1 - t0, t2 - t1))
best = min(runs, key=lambda r: r[0] + r[1])
print(json.dumps({"runtime": f"torch-pruning {getattr(tp, '__version__', '?')} (torch {torch.__version__})", "model": "resnet50",
                  "graphSeconds": round(best[0], 4), "pruneSeconds": round(best[1], 4), "totalSeconds": round(sum(best), 4),
                  "allRuns": [round(sum(r), 4) for r in runs]}))
