using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Reporting;
using Secateur.Pruning.Unstructured;
using Secateur.Runtime;
using Secateur.Training;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur prune</c>: structured channel pruning to a target, with BN recalibration and fine-tuning.</summary>
public static class PruneCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file or zoo model name" };
        var criterion = new Option<string>("--criterion") { Description = $"importance criterion: {string.Join(", ", Importances.Names)}", DefaultValueFactory = _ => "l1" };
        var ratio = new Option<double?>("--ratio") { Description = "remove this fraction of the channels (per group, or of all with --global)" };
        var speedup = new Option<double?>("--speedup") { Description = "reach at least this many times fewer MACs" };
        var macs = new Option<long?>("--macs") { Description = "reach at most this many MACs" };
        var parameters = new Option<long?>("--params") { Description = "reach at most this many parameters" };
        var targetLatency = new Option<double?>("--target-latency") { Description = "reach at most this median ONNX Runtime latency in ms on this machine (each candidate is exported and timed)" };
        var latencyBatch = new Option<int>("--latency-batch") { Description = "batch size --target-latency is measured at", DefaultValueFactory = _ => 1 };
        var global = new Option<bool>("--global") { Description = "rank all channels together instead of the same ratio per group" };
        var bySensitivity = new Option<bool>("--sensitivity") { Description = "allocate from a sensitivity analysis on a held-out slice of the training data (needs --data)" };
        var sensitivityRatios = new Option<string>("--sensitivity-ratios") { Description = "ratios the sensitivity analysis measures", DefaultValueFactory = _ => "0.25,0.5,0.75" };
        // 8 by measurement (benchmarks/latency): ONNX Runtime's x86 convolutions work on blocks of 8 channels, and models
        // pruned to other counts ran slower than the dense model at a 2x MACs cut; rounded to 8 they ran 1.4-1.9x faster.
        var roundTo = new Option<int>("--round-to") { Description = "keep channel counts multiples of N (8: fast with ONNX Runtime on x86; 1: exact MACs targets)", DefaultValueFactory = _ => 8 };
        var maxRatio = new Option<double>("--max-layer-ratio") { Description = "no group loses more than this fraction", DefaultValueFactory = _ => 0.9 };
        var exclude = new Option<string[]>("--exclude") { Description = "layers (names or patterns with *) to leave alone", AllowMultipleArgumentsPerToken = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "only list the groups: layers, channels, prunable or blocked and why" };
        var data = new Option<string?>("--data") { Description = $"dataset for accuracy, data-driven criteria, recalibration and fine-tuning: {DataSource.Forms}" };
        var dataDir = CommonOptions.DataDir();
        var calibration = new Option<int>("--calibration-batches") { Description = "batches of 64 training images for data-driven criteria", DefaultValueFactory = _ => 8 };
        var recalibrate = new Option<int>("--recalibrate") { Description = "re-estimate batch-norm statistics on N training images after pruning (0: off)", DefaultValueFactory = _ => 1024 };
        var epochs = new Option<int>("--finetune-epochs") { Description = "fine-tuning epochs after pruning", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "fine-tuning learning rate (cosine annealing to 0)", DefaultValueFactory = _ => 0.01 };
        var batch = CommonOptions.BatchSize();
        var distill = new Option<bool>("--distill") { Description = "fine-tune with knowledge distillation from the unpruned model" };
        var alpha = new Option<double>("--distill-alpha") { Description = "weight of the distillation loss", DefaultValueFactory = _ => 0.7 };
        var temperature = new Option<double>("--distill-temperature") { Description = "distillation temperature", DefaultValueFactory = _ => 4.0 };
        var scheduleKind = new Option<string>("--schedule") { Description = "oneshot, iterative, agp or dynamic; lottery with --granularity weight", DefaultValueFactory = _ => "oneshot" }.AcceptOnlyFromAmong("oneshot", "iterative", "agp", "dynamic", "lottery");
        var steps = new Option<int>("--steps") { Description = "pruning steps of iterative, agp and dynamic schedules (fine-tuning --finetune-epochs after each)", DefaultValueFactory = _ => 4 };
        var tolerance = new Option<double>("--tolerance") { Description = "dynamic: largest accepted validation accuracy drop (0.01 = 1 point)", DefaultValueFactory = _ => 0.01 };
        var trainLimit = new Option<int?>("--train-limit") { Description = "use only the first N training images" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "fine-tuning checkpoint written after every epoch" };
        var resume = new Option<bool>("--resume") { Description = "continue fine-tuning from --checkpoint" };
        var output = new Option<string?>("--output", "-o") { Description = "where to save the pruned model (default: <model>.pruned.onnx)" };
        var report = new Option<string?>("--report") { Description = "write a report: .html (with charts; .md and .json beside it), .md or .json" };
        var granularity = new Option<string>("--granularity") { Description = "channel (remove channels: a smaller dense model) or weight (zero single weights: a sparse model)", DefaultValueFactory = _ => "channel" }.AcceptOnlyFromAmong("channel", "weight");
        var sparsity = new Option<double?>("--sparsity") { Description = "weight granularity: fraction of the pruned layers' weights to zero, e.g. 0.9" };
        var scope = new Option<string>("--scope") { Description = "weight granularity: the same sparsity in every layer, or one global threshold", DefaultValueFactory = _ => "layer" }.AcceptOnlyFromAmong("layer", "global");
        var nm = new Option<string?>("--nm") { Description = "N:M sparsity, e.g. 2:4: at most N non-zeros in every M consecutive input channels (implies --granularity weight)" };
        var rewindEpoch = new Option<int>("--rewind-epoch") { Description = "lottery: reset survivors to their weights at the end of this epoch of dense training (0: the initial weights)", DefaultValueFactory = _ => 1 };
        var pruneClassifier = new Option<bool>("--prune-classifier") { Description = "weight granularity: also prune the last layer (left dense by default)" };
        var json = CommonOptions.Json();
        var opset = CommonOptions.Opset();
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var input = CommonOptions.Input();
        var classes = CommonOptions.Classes();
        var cmd = new Command("prune", "remove the least important channels for real, recalibrate, fine-tune, save a smaller ONNX model")
        {
            model, criterion, ratio, speedup, macs, parameters, targetLatency, latencyBatch, global, bySensitivity, sensitivityRatios, roundTo, maxRatio, exclude, dryRun, data, dataDir, calibration, recalibrate,
            epochs, lr, batch, distill, alpha, temperature, scheduleKind, steps, tolerance, trainLimit, checkpoint, resume, output, report, json, seed, device, threads, input, classes,
            granularity, sparsity, scope, nm, rewindEpoch, pruneClassifier, opset,
        };
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            DataSet? set = r.GetValue(data) is { } d ? DataSource.Resolve(d, r.GetValue(dataDir)) : null;
            if (set is not null && r.GetValue(trainLimit) is { } limit) set = set.WithTrain(set.Train.Take(Math.Max(1, limit)));
            var graph = set is null
                ? ModelSource.Load(spec, r.GetValue(input), r.GetValue(classes))
                : ModelSource.Load(spec, r.GetValue(input) ?? $"{set.Train.Channels}x{set.Train.Height}x{set.Train.Width}", r.GetValue(classes) ?? set.Train.ClassCount);
            if (set is not null) TrainingCliOptions.CheckCompatible(graph, set);
            var excluded = (r.GetValue(exclude) ?? []).SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList();
            bool Given(Option o) => r.GetResult(o) is { Implicit: false };
            if (r.GetValue(granularity) == "weight" || r.GetValue(nm) is not null)
            {
                foreach (var o in new Option[] { ratio, speedup, macs, parameters, global, bySensitivity, sensitivityRatios, dryRun, roundTo, maxRatio, recalibrate, calibration, tolerance })
                    if (Given(o)) throw new SecateurException(ErrorCode.BadArgument, $"{o.Name} is for channel pruning; weight pruning takes --sparsity, --scope, --criterion magnitude|lamp or --nm");
                string crit = Given(criterion) ? r.GetValue(criterion)!.ToLowerInvariant() : "magnitude";
                if (crit is not ("magnitude" or "lamp"))
                    throw new SecateurException(ErrorCode.BadArgument, $"--criterion {crit} is for channel pruning; weight pruning takes magnitude or lamp");
                if (r.GetValue(nm) is not null && (Given(sparsity) || Given(criterion) || Given(scope)))
                    throw new SecateurException(ErrorCode.BadArgument, "--nm sets the sparsity and the criterion itself: drop --sparsity, --scope and --criterion");
                if (r.GetValue(nm) is null && r.GetValue(sparsity) is null)
                    throw new SecateurException(ErrorCode.BadArgument, "weight pruning needs --sparsity (e.g. 0.9) or --nm (e.g. 2:4)");
                if (r.GetValue(threads) is { } t)
                {
                    NativeLibraries.EnsureTorch(); // before the first torch call: it may need the libstdc++ fix
                    TorchSharp.torch.set_num_threads(Math.Max(1, t));
                }
                var sparse = new SparsityOptions
                {
                    Sparsity = r.GetValue(sparsity) ?? 0,
                    Scope = r.GetValue(scope) == "global" ? SparsityScope.Global : SparsityScope.Layer,
                    Criterion = crit == "lamp" ? WeightCriterion.Lamp : WeightCriterion.Magnitude,
                    Nm = r.GetValue(nm) is { } text ? NmPattern.Parse(text) : null,
                    Exclude = excluded,
                    PruneClassifier = r.GetValue(pruneClassifier),
                };
                return SparsePrune.Run(context, graph, set, new SparseArgs(spec, sparse, r.GetValue(scheduleKind)!, r.GetValue(steps), r.GetValue(rewindEpoch),
                    r.GetValue(epochs), r.GetValue(lr), r.GetValue(batch), r.GetValue(seed), r.GetValue(device)!, r.GetValue(checkpoint), r.GetValue(resume),
                    r.GetValue(distill), r.GetValue(alpha), r.GetValue(temperature), r.GetValue(output), r.GetValue(json), r.GetValue(report), r.GetValue(opset)));
            }
            foreach (var o in new Option[] { sparsity, scope, rewindEpoch, pruneClassifier })
                if (Given(o)) throw new SecateurException(ErrorCode.BadArgument, $"{o.Name} needs --granularity weight");
            if (r.GetValue(scheduleKind) == "lottery") throw new SecateurException(ErrorCode.BadArgument, "--schedule lottery needs --granularity weight");
            if (r.GetValue(dryRun)) return DryRun(context, graph, excluded, r.GetValue(json));

            var target = new PruningTarget
            {
                Ratio = r.GetValue(ratio), Speedup = r.GetValue(speedup), Macs = r.GetValue(macs), Params = r.GetValue(parameters),
                Latency = r.GetValue(targetLatency) is { } ms ? new LatencyBudget(ms, r.GetValue(latencyBatch), r.GetValue(threads) is { } tn ? Math.Max(1, tn) : 0) : null,
            }.Validated();
            var importance = Importances.Create(r.GetValue(criterion)!);
            if ((importance.NeedsData || r.GetValue(epochs) > 0) && set is null)
                throw new SecateurException(ErrorCode.BadArgument, $"{(importance.NeedsData ? $"criterion '{importance.Name}'" : "fine-tuning")} needs data: give --data");
            string dev = r.GetValue(device)!;
            var torchDevice = Devices.Parse(dev);
            if (r.GetValue(threads) is { } n) TorchSharp.torch.set_num_threads(Math.Max(1, n));
            var clock = Stopwatch.StartNew();
            int s = r.GetValue(seed);
            var test = set?.TestLoader();
            double? Accuracy(ModelGraph g)
            {
                if (test is null) return null;
                using var m = new GraphModule(g, torchDevice);
                return Trainer.Evaluate(m, test).Top1;
            }
            var accBefore = Accuracy(graph);
            var context0 = new ImportanceContext(set?.TrainLoader(64, s, augment: false), r.GetValue(calibration), s, dev);
            IReadOnlyList<SensitivityPoint>? sensitivityPoints = null;
            if (r.GetValue(bySensitivity))
            {
                if (set is null) throw new SecateurException(ErrorCode.BadArgument, "--sensitivity needs data: give --data");
                var ratios = r.GetValue(sensitivityRatios)!.Split(',', StringSplitOptions.RemoveEmptyEntries)
                    .Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new SecateurException(ErrorCode.BadArgument, $"bad ratio '{t}' in --sensitivity-ratios")).ToList();
                // Held out from training, never the test split: allocation must not peek at the test set.
                var held = set.Train.Split(0.1, s).Validation.Take(1000);
                var heldOut = (set with { Test = held }).TestLoader();
                context.Error.WriteLine($"sensitivity analysis on {held.Count} held-out training images ...");
                sensitivityPoints = Sensitivity.Analyze(graph, importance, context0, heldOut, ratios).Points;
            }
            var options = new PruningOptions
            {
                Target = target,
                Sensitivity = sensitivityPoints,
                Allocation = new AllocationOptions(r.GetValue(bySensitivity) ? AllocationKind.Sensitivity : r.GetValue(global) ? AllocationKind.Global : AllocationKind.Uniform, r.GetValue(roundTo), r.GetValue(maxRatio)),
                Exclude = excluded,
                Importance = context0,
                Log = line => context.Error.WriteLine(line),
            };
            var schedule = new ScheduleOptions(r.GetValue(scheduleKind) switch
            {
                "iterative" => PruningScheduleKind.Iterative, "agp" => PruningScheduleKind.Agp, "dynamic" => PruningScheduleKind.Dynamic, _ => PruningScheduleKind.OneShot,
            }, r.GetValue(steps), r.GetValue(tolerance)).Validated();
            ModelGraph Recalibrate(ModelGraph g) =>
                set is not null && r.GetValue(recalibrate) > 0 ? BatchNormRecalibration.Recalibrate(g, set.TrainLoader(128, s, augment: false), r.GetValue(recalibrate), dev) : g;
            var history = new List<EpochResult>();
            ModelGraph Finetune(ModelGraph g, int epochCount, string title)
            {
                if (set is null || epochCount <= 0) return g;
                var training = new TrainingOptions
                {
                    Epochs = epochCount, LearningRate = r.GetValue(lr), Schedule = ScheduleKind.Cosine, BatchSize = r.GetValue(batch),
                    Seed = s, CheckpointPath = r.GetValue(checkpoint), Resume = r.GetValue(resume),
                }.Validated();
                using var module = new GraphModule(g, torchDevice);
                using var teacher = r.GetValue(distill) ? new GraphModule(graph, torchDevice) : null;
                var trainer = new Trainer(module, training) { Distillation = teacher is null ? null : (teacher, r.GetValue(alpha), r.GetValue(temperature)) };
                var loader = set.TrainLoader(training.BatchSize, s);
                history.AddRange(TrainingView.Run(context, title, training.Epochs * loader.BatchesPerEpoch,
                    (progress, refresh) => trainer.Fit(loader, test, progress, e => { context.Error.WriteLine(TrainingView.EpochLine(e, training.Epochs)); refresh(e); })));
                // A checkpoint belongs to one fine-tuning run: the next step starts afresh.
                if (training.CheckpointPath is { } c && schedule.Kind != PruningScheduleKind.OneShot) File.Delete(c);
                return module.ToGraph();
            }
            double? accPruned = null, accRecalibrated = null;
            var outside = new Stopwatch();
            var scheduleClock = Stopwatch.StartNew();
            var result = PruningSchedule.Run(graph, importance, options, schedule, (step, g, retry) =>
            {
                outside.Start();
                try {
                if (step == 1 && retry == 0)
                {
                    accPruned = Accuracy(g);
                }
                var recalibrated = Recalibrate(g);
                if (step == 1 && retry == 0 && !ReferenceEquals(recalibrated, g)) accRecalibrated = Accuracy(recalibrated);
                return Finetune(recalibrated, r.GetValue(epochs) << retry, $"fine-tuning step {step} ({r.GetValue(epochs) << retry} epochs)");
                } finally { outside.Stop(); }
            }, g => set is null || schedule.Kind != PruningScheduleKind.Dynamic ? null : Accuracy(g), line => context.Error.WriteLine(line));
            double pruneSeconds = scheduleClock.Elapsed.TotalSeconds - outside.Elapsed.TotalSeconds;
            var pruned = result.Graph;
            var before = ModelStats.Compute(graph);
            var after = ModelStats.Compute(pruned);
            double? accFinetuned = r.GetValue(epochs) > 0 ? Accuracy(pruned) : null;
            var groups = Pruner.Preflight(graph, excluded).Where(e => e.Prunable)
                .Select(e => new GroupChange(e.Group, e.Producers, e.Channels, CountChannels(pruned, e.Producers, e.Channels))).ToList();
            var path = r.GetValue(output) ?? (File.Exists(spec) ? Path.ChangeExtension(spec, null) : spec) + ".pruned.onnx";
            CommonOptions.Save(pruned, path, r.GetValue(opset));
            var summary = new PruneSummary(graph.Name, importance.Name, target.ToString(), options.Allocation.Kind.ToString().ToLowerInvariant(), set?.Name,
                before.Params, after.Params, before.Macs, after.Macs, before.Macs / (double)after.Macs,
                accBefore, accPruned, accRecalibrated, accFinetuned, pruneSeconds, clock.Elapsed.TotalSeconds, path,
                groups, history.Select(e => new EpochSummary(e.Epoch, e.Train.Loss, e.Train.Top1, e.Test?.Top1)).ToList(),
                result.Steps, result.Stop,
                "secateur " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1))) { Latency = result.Latency };
            if (r.GetValue(report) is { } reportPath)
            {
                long sizeBefore = File.Exists(spec) ? new FileInfo(spec).Length : OnnxSerializer.ToBytes(graph).Length;
                ReportWriter.Write(summary.ToReport(sizeBefore, new FileInfo(path).Length) with { Recipe = context.Recipe }, reportPath);
            }
            if (r.GetValue(json)) context.WriteJson(summary);
            else context.Out.WriteLine(summary.Line());
            return 0;
        });
        return cmd;
    }

    /// <summary>Channels a group's first producer has in the pruned graph (names survive pruning).</summary>
    private static long CountChannels(ModelGraph pruned, IReadOnlyList<string> producers, long before)
    {
        var producer = producers.FirstOrDefault();
        var node = producer is null ? null : pruned.FindNode(producer);
        if (node is null) return before;
        var w = pruned.Initializers[node.Inputs[1]].Shape;
        return node.Op == OpKind.Gemm && node.Int("transB", 0) == 0 ? w[1] : w[0];
    }

    private static int DryRun(CliContext context, ModelGraph graph, IReadOnlyList<string> exclude, bool json)
    {
        var entries = Pruner.Preflight(graph, exclude);
        var stats = ModelStats.Compute(graph);
        if (json)
        {
            context.WriteJson(new { model = graph.Name, @params = stats.Params, macs = stats.Macs, prunable = entries.Count(e => e.Prunable), blocked = entries.Count(e => !e.Prunable), groups = entries });
            return 0;
        }
        var table = new Table().Border(TableBorder.Simple).Title($"{graph.Name}: {entries.Count(e => e.Prunable)} prunable groups, {entries.Count(e => !e.Prunable)} blocked");
        table.AddColumn("group").AddColumn(new TableColumn("channels").RightAligned()).AddColumn("layers").AddColumn("status");
        foreach (var e in entries)
            table.AddRow(Markup.Escape(e.Group), e.Channels.ToString(CultureInfo.InvariantCulture), Markup.Escape(string.Join(", ", e.Layers)),
                e.Prunable ? "[green]prunable[/]" : "[red]blocked[/]: " + Markup.Escape(e.Reason ?? ""));
        context.Console.Write(table);
        return 0;
    }
}

/// <summary>One fine-tuning epoch in a report.</summary>
public sealed record EpochSummary(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy);

/// <summary>Everything <c>prune</c> reports (its <c>--json</c> output and the report's data).</summary>
public sealed record PruneSummary(string Model, string Criterion, string Target, string Allocation, string? Data,
    long ParamsBefore, long ParamsAfter, long MacsBefore, long MacsAfter, double Speedup,
    double? AccuracyBefore, double? AccuracyPruned, double? AccuracyRecalibrated, double? AccuracyFinetuned,
    double PruneSeconds, double TotalSeconds, string Output, IReadOnlyList<GroupChange> Groups, IReadOnlyList<EpochSummary> Epochs,
    IReadOnlyList<ScheduleStep> Steps, string Stop, string Command)
{
    /// <summary>Top-level <c>params</c> and <c>macs</c> (after pruning) for scripts.</summary>
    public long Params => ParamsAfter;

    /// <summary>MACs after pruning.</summary>
    public long Macs => MacsAfter;

    /// <summary>For <c>--target-latency</c>: measured latencies of the dense and pruned model, and the search.</summary>
    public LatencySearchResult? Latency { get; init; }

    /// <summary>The report: summary figures, accuracy stages, per-group channels, trade-off points and fine-tuning curves.</summary>
    public RunReport ToReport(long fileBytesBefore, long fileBytesAfter)
    {
        var accuracy = new List<AccuracyStage>();
        void Stage(string name, double? v) { if (v is { } x) accuracy.Add(new AccuracyStage(name, x)); }
        // With several steps, "right after pruning" is measured after the first one.
        string first = Steps.Count > 1 ? " (step 1)" : "";
        Stage("before pruning", AccuracyBefore);
        Stage("right after pruning" + first, AccuracyPruned);
        Stage("after BN recalibration" + first, AccuracyRecalibrated);
        Stage("after fine-tuning", AccuracyFinetuned);
        var tradeOff = new List<TradeOffPoint>();
        if (AccuracyBefore is { } dense) tradeOff.Add(new TradeOffPoint("dense", MacsBefore, dense, Baseline: true));
        if (Steps.Count > 1)
            tradeOff.AddRange(Steps.Where(st => st.Accuracy is not null).Select(st => new TradeOffPoint($"step {st.Step}", st.Macs, st.Accuracy!.Value)));
        if ((AccuracyFinetuned ?? AccuracyRecalibrated ?? AccuracyPruned) is { } final && !tradeOff.Any(p => !p.Baseline && p.Macs == MacsAfter && p.Accuracy == final))
            tradeOff.Add(new TradeOffPoint("result", MacsAfter, final));
        int step = 1, index = 0, previous = int.MaxValue;
        var training = new List<EpochPoint>();
        foreach (var e in Epochs)
        {
            // Epoch numbers restart with every fine-tuning step of a schedule.
            if (e.Epoch <= previous && index > 0) step++;
            previous = e.Epoch;
            training.Add(new EpochPoint(++index, Steps.Count > 1 ? $"step {step}, epoch {e.Epoch}" : $"epoch {e.Epoch}", e.TrainLoss, e.TrainAccuracy, e.TestAccuracy));
        }
        return new RunReport
        {
            Kind = "prune",
            Model = Model,
            Command = Command,
            Summary =
            [
                new Measure("params", ParamsBefore, ParamsAfter),
                new Measure("MACs", MacsBefore, MacsAfter),
                new Measure("ONNX file size", fileBytesBefore, fileBytesAfter, "bytes"),
                .. Latency is { } l
                    ? new[] { new Measure($"ORT p50 latency, batch {l.Budget.Batch} (budget {l.Budget.Milliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms)", l.DenseMs, l.PrunedMs, "ms"),
                              new Measure($"ORT p90 latency, batch {l.Budget.Batch}", l.DenseP90Ms, l.PrunedP90Ms, "ms") }
                    : [],
            ],
            Accuracy = accuracy,
            Layers = Groups.Select(g => new LayerChange(g.Group, g.Before, g.After)).ToList(),
            TradeOff = tradeOff,
            Training = training,
            Notes =
            [
                $"Criterion {Criterion}, {Allocation} allocation, target {Target}; data: {Data ?? "none"}.",
                FormattableString.Invariant($"Time: pruning (scoring, allocation, removal; every step) {PruneSeconds:0.000} s, total {TotalSeconds:0.0} s. Schedule: {Stop}."),
            ],
        };
    }

    /// <summary>The one-line summary.</summary>
    public string Line()
    {
        static string A(double? v) => v is { } x ? x.ToString("P2", CultureInfo.InvariantCulture) : "-";
        string latency = Latency is { } l
            ? FormattableString.Invariant($"p50 latency {l.DenseMs:0.###} -> {l.PrunedMs:0.###} ms ({l.Speedup:0.00}x, budget {l.Budget.Milliseconds:0.###} ms{(l.WithinBudget ? "" : ", missed on re-measurement: noise")}); ")
            : "";
        return FormattableString.Invariant(
            $"{Model}: params {ParamsBefore:N0} -> {ParamsAfter:N0} ({ParamsBefore / (double)ParamsAfter:0.00}x), MACs {MacsBefore:N0} -> {MacsAfter:N0} ({Speedup:0.00}x); ") + latency +
            $"accuracy before {A(AccuracyBefore)}, right after pruning {A(AccuracyPruned)}, after BN recalibration {A(AccuracyRecalibrated)}, after fine-tuning {A(AccuracyFinetuned)}; {Stop}; saved {Output}";
    }
}
