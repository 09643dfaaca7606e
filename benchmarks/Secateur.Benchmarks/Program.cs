// Secateur's side of the benchmarks. Prints one JSON line per measurement.
//   throughput MODEL BATCHES [--threads N] [--warmup W] [--data embedded|fashion-mnist] [--profile] [--no-prefetch]
//     --profile adds the trainer's per-phase breakdown (TrainingProfile) of the measured batches to the JSON line
//     and prints its table to stderr; --no-prefetch builds each batch on the training thread; --precision bf16 trains
//     in bfloat16 mixed precision; --eval measures evaluation (Trainer.Evaluate, batch 256, test images) instead.
//   ort-profile FILE.onnx BATCH THREADS RUNS OUT_PREFIX   (ORT per-node profile + optimised graph summary, OrtProfile.cs)
//   ort-accuracy FILE.onnx IDX_DIR   (top-1 of a classifier in ONNX Runtime on [0, 1] Fashion-MNIST test pixels)
using System.Diagnostics;
using System.Text.Json;
using Secateur.Data;
using Secateur.Models;
using Secateur.Runtime;
using Secateur.Training;

var argsList = args.ToList();
string Opt(string name, string fallback) { int i = argsList.IndexOf(name); return i >= 0 && i + 1 < argsList.Count ? argsList[i + 1] : fallback; }
if (argsList.Count == 6 && argsList[0] == "ort-profile")
    return OrtProfile.Run(argsList[1], int.Parse(argsList[2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(argsList[3], System.Globalization.CultureInfo.InvariantCulture), int.Parse(argsList[4], System.Globalization.CultureInfo.InvariantCulture), argsList[5]);
if (argsList.Count == 2 && argsList[0] == "onnx-speed") return OnnxSpeed.Run(argsList[1]);
if (argsList.Count == 3 && argsList[0] == "fold-bn") return FoldBn.Run(argsList[1], argsList[2]);
if (argsList.Count == 3 && argsList[0] == "ort-accuracy") return OrtAccuracy.Run(argsList[1], argsList[2]);
if (argsList.Count >= 1 && argsList[0] == "refit-speed")
    return RefitSpeed.Run(int.Parse(Opt("--images", "256"), System.Globalization.CultureInfo.InvariantCulture), int.Parse(Opt("--threads", "2"), System.Globalization.CultureInfo.InvariantCulture));
if (argsList.Count >= 1 && argsList[0] == "prune-speed") return PruneSpeed.Run(argsList.Count > 1 ? argsList[1] : "resnet50");
if (argsList.Count < 3 || argsList[0] != "throughput")
{
    Console.Error.WriteLine("usage: throughput MODEL BATCHES [--threads N] [--warmup W] [--data fashion-mnist]\n       prune-speed [MODEL]\n       refit-speed [--images N] [--threads N]\n       onnx-speed FILE.onnx\n       ort-accuracy FILE.onnx IDX_DIR\n       fold-bn IN.onnx OUT.onnx");
    return 2;
}
string model = argsList[1];
int batches = int.Parse(argsList[2], System.Globalization.CultureInfo.InvariantCulture);
int threads = int.Parse(Opt("--threads", "2"), System.Globalization.CultureInfo.InvariantCulture);
int warmup = int.Parse(Opt("--warmup", "3"), System.Globalization.CultureInfo.InvariantCulture);
var data = DataSource.Resolve(Opt("--data", "fashion-mnist"));

// Measure what the CLI runs: it opts into the process tuning at start-up, so the benchmark does too.
SecateurRuntime.ConfigureProcess();
NativeLibraries.EnsureTorch();
TorchSharp.torch.set_num_threads(threads);
using var module = new GraphModule(ModelZoo.Create(model));
// The real trainer on real, augmented batches: one epoch over exactly warm-up + measured batches.
var subset = data.WithTrain(data.Train.Take((warmup + batches) * 128));
var precision = Opt("--precision", "fp32") == "bf16" ? Precision.BFloat16 : Precision.Float32;
string suffix = precision == Precision.BFloat16 ? ", bf16" : "";
if (argsList.Contains("--eval"))
{
    // Evaluation as every workflow runs it: the test images in order, batch 256, loss + top-1 + top-5.
    if ((warmup + batches) * 256 > data.Test.Count) throw new ArgumentException($"the test set has only {data.Test.Count / 256} batches of 256");
    var evalSet = data.Test.Take((warmup + batches) * 256);
    var evalClock = new Stopwatch();
    module.Precision = precision;
    var evalCpu = TimeSpan.Zero;
    Trainer.Evaluate(module, data.Loader(evalSet, 256), new Progress2(p => { if (p.Batch == warmup) { evalClock.Restart(); evalCpu = Process.GetCurrentProcess().TotalProcessorTime; } }));
    evalClock.Stop();
    evalCpu = Process.GetCurrentProcess().TotalProcessorTime - evalCpu;
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        runtime = "secateur eval (TorchSharp 0.107, libtorch 2.10)" + suffix, model, threads, batch = 256, batches,
        seconds = Math.Round(evalClock.Elapsed.TotalSeconds, 3), imagesPerSecond = Math.Round(batches * 256 / evalClock.Elapsed.TotalSeconds, 1),
        cpuMsPerImage = Math.Round(evalCpu.TotalSeconds * 1000 / (batches * 256), 3),
    }));
    return 0;
}
var loader = argsList.Contains("--no-prefetch")
    ? new DataLoader(subset.Train, 128, shuffle: true, seed: 0, prefetch: false, preprocessing: subset.Preprocessing,
        transforms: [new PadAndRandomCrop(subset.CropPadding), new RandomHorizontalFlip(0.5)])
    : subset.TrainLoader(128, seed: 0);
var profile = argsList.Contains("--profile") ? new TrainingProfile(warmup) : null;
var trainer = new Trainer(module, new TrainingOptions { Epochs = 1, LearningRate = 0.05, Schedule = ScheduleKind.Constant, Precision = precision }) { Profile = profile };
var clock = new Stopwatch();
// CPU time of the whole process over the measured batches (every thread: libtorch's, the loader's, the runtime's):
// unlike wall time, it does not grow with other processes' load, only with the work (and spinning) done.
var cpuStart = TimeSpan.Zero;
var sink = new Sink(p => { if (p.Batch == warmup) { clock.Restart(); cpuStart = Process.GetCurrentProcess().TotalProcessorTime; } });
trainer.Fit(loader, progress: sink);
clock.Stop();
double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
double seconds = clock.Elapsed.TotalSeconds;
if (profile is not null) Console.Error.WriteLine($"{model}, {threads} thread(s), secateur:\n{profile.ToTable()}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    runtime = "secateur (TorchSharp 0.107, libtorch 2.10)" + (loader.Prefetch ? "" : ", no prefetch") + suffix, model, threads, batch = 128, batches,
    seconds = Math.Round(seconds, 3), imagesPerSecond = Math.Round(batches * 128 / seconds, 1),
    cpuMsPerImage = Math.Round(cpuSeconds * 1000 / (batches * 128), 3),
    phasesMsPerBatch = profile?.Phases.ToDictionary(p => p.Key, p => Math.Round(p.Value.TotalMilliseconds / profile.Batches, 2)),
    gc = profile is null ? null : new { gen0 = profile.Collections[0], gen1 = profile.Collections[1], gen2 = profile.Collections[2], pauseMs = Math.Round(profile.GcPause.TotalMilliseconds, 1) },
}));
return 0;

// Dependency analysis and physical pruning of a model to half its channels (uniform L1), as Torch-Pruning's
// DependencyGraph + MagnitudePruner do: the best of 10 runs after one warm-up, split into graph and prune time.
static class PruneSpeed
{
    public static int Run(string model)
    {
        var graph = ModelZoo.Create(model);
        var timings = new List<(double Graph, double Prune)>();
        var parts = new List<(double Score, double Allocate, double Apply)>();
        for (int i = 0; i < 11; i++)
        {
            var sw = Stopwatch.StartNew();
            var deps = Secateur.Pruning.DependencyGraph.Build(graph);
            double g = sw.Elapsed.TotalSeconds;
            sw.Restart();
            var scores = Secateur.Pruning.Importances.Create("l1").Score(deps, new Secateur.Pruning.ImportanceContext());
            double s = sw.Elapsed.TotalSeconds;
            var plan = Secateur.Pruning.Allocation.Plan(deps, deps.Prunable.ToList(), scores, new Secateur.Pruning.PruningTarget { Ratio = 0.5 }, new Secateur.Pruning.AllocationOptions());
            double a = sw.Elapsed.TotalSeconds;
            var pruned = plan.Apply();
            double p = sw.Elapsed.TotalSeconds;
            if (i > 0) { timings.Add((g, p)); parts.Add((s, a - s, p - a)); }
            GC.KeepAlive(pruned);
        }
        int bestIndex = Enumerable.Range(0, timings.Count).MinBy(i => timings[i].Graph + timings[i].Prune);
        var best = timings[bestIndex];
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            runtime = "secateur", model, graphSeconds = Math.Round(best.Graph, 4), pruneSeconds = Math.Round(best.Prune, 4),
            totalSeconds = Math.Round(best.Graph + best.Prune, 4),
            scoreSeconds = Math.Round(parts[bestIndex].Score, 4), allocateSeconds = Math.Round(parts[bestIndex].Allocate, 4),
            applySeconds = Math.Round(parts[bestIndex].Apply, 4), allRuns = timings.Select(t => Math.Round(t.Graph + t.Prune, 4)),
        }));
        return 0;
    }
}

// Import an exported ONNX file, prune it to half its channels (uniform L1) and export the result: the user's whole
// ONNX-in, ONNX-out path, best of 5 after one warm-up, split into its three parts.
static class OnnxSpeed
{
    public static int Run(string file)
    {
        var runs = new List<(double Import, double Prune, double Export)>();
        var output = Path.Combine(Path.GetTempPath(), $"secateur-onnx-speed-{Environment.ProcessId}.onnx");
        for (int i = 0; i < 6; i++)
        {
            var sw = Stopwatch.StartNew();
            var graph = Secateur.Onnx.OnnxSerializer.Load(file);
            double import = sw.Elapsed.TotalSeconds;
            sw.Restart();
            var deps = Secateur.Pruning.DependencyGraph.Build(graph);
            var scores = Secateur.Pruning.Importances.Create("l1").Score(deps, new Secateur.Pruning.ImportanceContext());
            var pruned = Secateur.Pruning.Allocation.Plan(deps, deps.Prunable.ToList(), scores, new Secateur.Pruning.PruningTarget { Ratio = 0.5 }, new Secateur.Pruning.AllocationOptions()).Apply();
            double prune = sw.Elapsed.TotalSeconds;
            sw.Restart();
            Secateur.Onnx.OnnxSerializer.Save(pruned, output);
            double export = sw.Elapsed.TotalSeconds;
            if (i > 0) runs.Add((import, prune, export));
        }
        File.Delete(output);
        var best = runs.MinBy(r => r.Import + r.Prune + r.Export);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            runtime = "secateur", file = Path.GetFileName(file), bytes = new FileInfo(file).Length,
            importSeconds = Math.Round(best.Import, 4), pruneSeconds = Math.Round(best.Prune, 4), exportSeconds = Math.Round(best.Export, 4),
            totalSeconds = Math.Round(best.Import + best.Prune + best.Export, 4), allRuns = runs.Select(r => Math.Round(r.Import + r.Prune + r.Export, 4)),
        }));
        return 0;
    }
}

// An eval-mode export's form of a model: every Conv -> BatchNormalization folded into the Conv (the library's own fold,
// the one quantization uses), so that batch-norm recalibration has nothing left to recalibrate.
static class FoldBn
{
    public static int Run(string input, string output)
    {
        var graph = Secateur.Onnx.OnnxSerializer.Load(input);
        var folded = Secateur.Quantization.GraphPreparation.FoldBatchNorms(graph);
        Secateur.Onnx.OnnxSerializer.Save(folded, output);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            input = Path.GetFileName(input), output = Path.GetFileName(output), nodesBefore = graph.Nodes.Count, nodesAfter = folded.Nodes.Count,
            batchNormsLeft = folded.Nodes.Count(n => n.Op == Secateur.Graph.OpKind.BatchNormalization),
        }));
        return 0;
    }
}

sealed class Sink(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

// Synchronous (Progress<T> would post to the thread pool and restart the clock late).
sealed class Progress2(Action<(int Batch, int Batches)> report) : IProgress<(int Batch, int Batches)>
{
    public void Report((int Batch, int Batches) value) => report(value);
}

// What a user's application does with the file: ONNX Runtime alone, fed the test images as ToTensor() makes them
// (uint8 pixels / 255, N x 1 x 28 x 28, no normalisation), read straight from the IDX files -- none of Secateur's data
// or preprocessing code is involved, so the figure checks what Secateur reported rather than repeating it.
static class OrtAccuracy
{
    public static int Run(string file, string idxDir)
    {
        var images = Idx(Path.Combine(idxDir, "t10k-images-idx3-ubyte.gz"), out var dims);
        var labels = Idx(Path.Combine(idxDir, "t10k-labels-idx1-ubyte.gz"), out _);
        int count = dims[0], pixels = dims[1] * dims[2];
        var version = Secateur.Deployment.OnnxRuntimeSession.RuntimeVersion; // (also loads the native runtime)
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(file);
        var input = session.InputMetadata.Keys.Single();
        int correct = 0;
        for (int start = 0; start < count; start += 500)
        {
            int n = Math.Min(500, count - start);
            var data = new float[n * pixels];
            for (int i = 0; i < data.Length; i++) data[i] = images[start * pixels + i] / 255f;
            var tensor = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(data, [n, 1, dims[1], dims[2]]);
            using var results = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(input, tensor)]);
            var logits = results[0].AsTensor<float>();
            int classes = (int)logits.Dimensions[1];
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int c = 1; c < classes; c++) if (logits[i, c] > logits[i, best]) best = c;
                if (best == labels[start + i]) correct++;
            }
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            runtime = $"onnxruntime {version}", file = Path.GetFileName(file),
            feeding = "pixels / 255, Nx1x28x28, no normalisation", testImages = count, correct, accuracy = correct / (double)count,
        }));
        return 0;
    }

    // IDX: big-endian magic (type, rank), the dimensions, then the bytes.
    private static byte[] Idx(string path, out int[] dims)
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gz.CopyTo(memory);
        var bytes = memory.ToArray();
        int rank = bytes[3];
        dims = new int[rank];
        for (int d = 0; d < rank; d++) dims[d] = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
        return bytes[(4 + 4 * rank)..];
    }
}

// Least-squares refit of torchvision-layout ResNet-50 (3x224x224) pruned 2x (uniform L1 to half the MACs) on N Fashion-MNIST
// training images blown up to 224x224 (nearest, x8) and replicated to 3 channels: the cost depends on shapes, not
// content, but real images keep the Gram matrices realistic. One run; the script wraps it in /usr/bin/time -v for peak memory.
static class RefitSpeed
{
    public static int Run(int images, int threads)
    {
        SecateurRuntime.ConfigureProcess();
        NativeLibraries.EnsureTorch();
        TorchSharp.torch.set_num_threads(threads);
        var graph = ModelZoo.Create("resnet50");
        var pruning = Secateur.Pruning.Pruner.Prune(graph, Secateur.Pruning.Importances.Create("l1"),
            new Secateur.Pruning.PruningOptions { Target = new Secateur.Pruning.PruningTarget { Speedup = 2 } });
        var source = new Upscaled(DataSource.Resolve("fashion-mnist").Train, images, 32);
        string load = File.ReadAllText("/proc/loadavg").Trim();
        Console.Error.WriteLine($"[peak RSS after building and pruning the model: {PeakMB()} MB]");
        // The same-run baseline: one plain forward of the dense model over the same images (batches of 32, as the refit).
        double forward, forwardCpu;
        var process = Process.GetCurrentProcess();
        using (var module = new GraphModule(graph))
        using (TorchSharp.torch.no_grad())
        {
            module.eval();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            foreach (var b in source.Epoch(0))
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var (x, _) = Trainer.ToTensors(b, module.Device);
                module.forward(x);
            }
            forward = sw.Elapsed.TotalSeconds;
            process.Refresh();
            forwardCpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        }
        Console.Error.WriteLine($"[peak RSS after the baseline forward: {PeakMB()} MB]");
        process.Refresh();
        var refitCpu0 = process.TotalProcessorTime;
        string last = "";
        var clock = Stopwatch.StartNew();
        var result = Secateur.Pruning.Refit.Run(pruning.Plan, pruning.Pruned, source, new Secateur.Pruning.RefitOptions { Images = images },
            WorkflowProgress.ToLines(l => { last = l; Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0} s, peak RSS {PeakMB()} MB] {l}"); }));
        double seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        double refitCpu = (process.TotalProcessorTime - refitCpu0).TotalSeconds;
        // The phase breakdown from the refit's last progress line ("dense forward 12.3 s, ...").
        var phases = System.Text.RegularExpressions.Regex.Matches(last, @"([a-z][a-z ]+?) ([0-9.]+) s")
            .ToDictionary(m => m.Groups[1].Value.Trim().Replace(' ', '_'), m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model = "resnet50 3x224x224", speedup = Math.Round(pruning.Speedup, 3), images, threads, layers = result.Layers.Count,
            seconds = Math.Round(seconds, 1), denseForwardSeconds = Math.Round(forward, 1),
            cpuSeconds = Math.Round(refitCpu, 1), denseForwardCpuSeconds = Math.Round(forwardCpu, 1), cpuRatio = Math.Round(refitCpu / forwardCpu, 2),
            phases, loadBefore = load, loadAfter = File.ReadAllText("/proc/loadavg").Trim(),
            meanErrorBefore = Math.Round(result.Layers.Average(l => l.ErrorBefore), 4), meanErrorAfter = Math.Round(result.Layers.Average(l => l.ErrorAfter), 4),
        }));
        return 0;
    }

    private static long PeakMB() => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;

    private sealed class Upscaled(ImageDataset data, int count, int batchSize) : IBatchSource
    {
        public long Samples => count;

        public int BatchesPerEpoch => (count + batchSize - 1) / batchSize;

        public IEnumerable<Batch> Epoch(int epoch)
        {
            var loader = new DataLoader(data, batchSize, transforms: [new Normalize([0.2860f], [0.3530f])], prefetch: false);
            int seen = 0;
            foreach (var b in loader.Epoch(0))
            {
                int n = Math.Min(b.Count, count - seen);
                var pixels = new float[n * 3 * 224 * 224];
                for (int i = 0; i < n; i++)
                    for (int y = 0; y < 224; y++)
                        for (int x = 0; x < 224; x++)
                        {
                            float v = b.Images[i * 784 + y / 8 * 28 + x / 8];
                            for (int c = 0; c < 3; c++) pixels[((i * 3 + c) * 224 + y) * 224 + x] = v;
                        }
                yield return new Batch(pixels, new long[n], n, [3, 224, 224]);
                if ((seen += n) >= count) yield break;
            }
        }
    }
}
