#!/usr/bin/env bash
# Every torchvision 0.14 classification and segmentation model builder, exported by Debian's PyTorch with random weights,
# through `secateur inspect` and `secateur prune --dry-run --speedup 2`; writes benchmarks/onnx/results/torchvision-sweep.md
# (and .jsonl). CPU-heavy: runs under nice, capped at 40 minutes in all. Needs python3-torch and python3-torchvision.
# Usage: benchmarks/onnx/torchvision-sweep.sh [extra torchvision-sweep.py options, e.g. --only resnet]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli="${SECATEUR:-$root/src/Secateur.Cli/bin/Release/net10.0/Secateur.Cli}"
[ -x "$cli" ] || nice -n 10 dotnet build "$root/src/Secateur.Cli" -c Release >/dev/null
exec nice -n 10 /usr/bin/python3 "$root/benchmarks/onnx/torchvision-sweep.py" "$cli" --cap-seconds 2400 "$@"
