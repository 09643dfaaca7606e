#!/usr/bin/env bash
set -euo pipefail
A="dotnet /tmp/int8q/after-cli/Secateur.Cli.dll"
for r in 8 16 32; do
  [ -f mv2-r$r.onnx ] || $A prune /tmp/int8q/work/models/mobilenetv2.onnx --speedup 2 --round-to $r -o mv2-r$r.onnx > prune-r$r.log 2>&1
  [ -f mv2-r$r.int8.onnx ] || $A quantize mv2-r$r.onnx --data fashion-mnist --calibration-images 128 --test-limit 200 --batch 1 --runs 2 --threads 2 -o mv2-r$r.int8.onnx --json > q-r$r.json 2>>log
done
for r in 8 16 32; do
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" > bench-r$r.txt
  $A bench mv2-r$r.int8.onnx --against mv2-r$r.onnx --batch 1,32 --threads 2 --runs 20 >> bench-r$r.txt 2>>log
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >> bench-r$r.txt
done
for r in 16 32; do
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" > int8-r$r-vs-r8.txt
  $A bench mv2-r$r.int8.onnx --against mv2-r8.int8.onnx --batch 1,32 --threads 2 --runs 20 >> int8-r$r-vs-r8.txt 2>>log
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >> int8-r$r-vs-r8.txt
done
echo done > done
