using System.Diagnostics;
using System.Globalization;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning.Unstructured;
using Secateur.Reporting;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary>The values of <c>prune --granularity weight</c> (and <c>--nm</c>), read from the command line.</summary>
internal sealed record SparseArgs(
    string Spec, SparsityOptions Options, string Schedule, int Steps, int RewindEpoch, int FinetuneEpochs, double LearningRate, int BatchSize,
    int Seed, string Device, string? Checkpoint, bool Resume, bool Distill, double DistillAlpha, double DistillTemperature, string? Output, bool Json, string? Report = null, int Opset = Secateur.Onnx.OnnxSaveOptions.MaxOpset);

/// <summary><c>secateur prune --granularity weight</c>: weight-level (unstructured or N:M) sparsity with fixed masks during fine-tuning.</summary>
internal static class SparsePrune
{
    public static int Run(CliContext context, ModelGraph graph, DataSet? set, SparseArgs a)
    {
        var clock = Stopwatch.StartNew();
        var kind = a.Schedule switch
        {
            "oneshot" => SparsityScheduleKind.OneShot,
            "iterative" => SparsityScheduleKind.Iterative,
            "agp" => SparsityScheduleKind.Agp,
            "lottery" => SparsityScheduleKind.Lottery,
            _ => throw new SecateurException(ErrorCode.BadArgument, $"--schedule {a.Schedule} is for channel pruning; weight pruning takes oneshot, iterative, agp or lottery"),
        };
        var schedule = new SparsityScheduleOptions(kind, a.Steps, a.RewindEpoch).Validated();
        var options = a.Options.Validated();
        if (kind == SparsityScheduleKind.Lottery)
        {
            if (set is null) throw new SecateurException(ErrorCode.BadArgument, "the lottery schedule trains the model: give --data");
            if (a.FinetuneEpochs <= a.RewindEpoch)
                throw new SecateurException(ErrorCode.BadArgument, $"the lottery schedule trains --finetune-epochs per round, which must exceed --rewind-epoch {a.RewindEpoch} (got {a.FinetuneEpochs})");
        }
        if (a.Distill && kind == SparsityScheduleKind.Lottery)
            throw new SecateurException(ErrorCode.BadArgument, "--distill needs a trained teacher; the lottery schedule starts from the given weights and trains them itself");
        if (a.FinetuneEpochs > 0 && set is null) throw new SecateurException(ErrorCode.BadArgument, "fine-tuning needs data: give --data");
        if (a.Checkpoint is not null && kind != SparsityScheduleKind.OneShot)
            throw new SecateurException(ErrorCode.BadArgument, "--checkpoint works with --schedule oneshot only for weight pruning (each step of a schedule trains anew)");
        var device = Devices.Parse(a.Device);
        var test = set?.TestLoader();
        double? Accuracy(ModelGraph g)
        {
            if (test is null) return null;
            using var m = new GraphModule(g, device);
            return Trainer.Evaluate(m, test).Top1;
        }
        var history = new List<EpochSummary>();
        MaskedTraining Train(int step, ModelGraph g, WeightMasks? masks, int? rewindEpoch)
        {
            if (set is null || a.FinetuneEpochs <= 0) return new MaskedTraining(g);
            var training = new TrainingOptions
            {
                Epochs = a.FinetuneEpochs, LearningRate = a.LearningRate, Schedule = ScheduleKind.Cosine, BatchSize = a.BatchSize,
                Seed = a.Seed, CheckpointPath = a.Checkpoint, Resume = a.Resume,
            }.Validated();
            using var module = new GraphModule(g, device);
            using var constraint = masks?.ToConstraint(device);
            using var teacher = a.Distill ? new GraphModule(graph, device) : null;
            var trainer = new Trainer(module, training)
            {
                Constraint = constraint,
                Distillation = teacher is null ? null : (teacher, a.DistillAlpha, a.DistillTemperature),
            };
            ModelGraph? rewind = null;
            var loader = set.TrainLoader(training.BatchSize, a.Seed);
            string title = step == 0 ? "lottery: dense training" : kind == SparsityScheduleKind.Lottery ? $"lottery round {step}: retraining" : $"fine-tuning step {step}";
            var epochs = TrainingView.Run(context, title, training.Epochs * loader.BatchesPerEpoch,
                (progress, refresh) => trainer.Fit(loader, test, progress, e =>
                {
                    context.Error.WriteLine(TrainingView.EpochLine(e, training.Epochs));
                    if (e.Epoch == rewindEpoch) rewind = module.ToGraph();
                    refresh(e);
                }));
            history.AddRange(epochs.Select(e => new EpochSummary(e.Epoch, e.Train.Loss, e.Train.Top1, e.Test?.Top1)));
            return new MaskedTraining(module.ToGraph(), rewind);
        }
        var accBefore = Accuracy(graph);
        var before = SparsityReport.Compute(graph);
        var result = SparsitySchedule.Run(graph, options, schedule, Train, Accuracy, line => context.Error.WriteLine(line));
        var considered = result.Weights.ToHashSet(StringComparer.Ordinal);
        bool? nmSatisfied = options.Nm is { } nm ? NmSparsity.Satisfies(result.Graph, nm, result.Masks.Keep.Keys) : null;
        var path = a.Output ?? (File.Exists(a.Spec) ? Path.ChangeExtension(a.Spec, null) : a.Spec) + ".sparse.onnx";
        CommonOptions.Save(result.Graph, path, a.Opset);
        var firstPruning = result.Steps.First(s => s.Step == 1);
        var summary = new SparsePruneSummary(graph.Name, "weight", options.Nm is null ? options.Criterion.ToString().ToLowerInvariant() : "magnitude",
            options.Nm is null ? options.Scope.ToString().ToLowerInvariant() : "group", options.Nm?.ToString(), a.Schedule,
            options.Nm?.Sparsity ?? options.Sparsity, set?.Name,
            result.Report.Params, before.NonZeroParams, result.Report.NonZeroParams, result.Report.Sparsity, result.Steps[^1].Sparsity, result.Report.Compression,
            accBefore, firstPruning.AccuracyPruned, a.FinetuneEpochs > 0 ? result.Steps[^1].Accuracy : null, nmSatisfied,
            result.Report.Layers.Select(l => new SparseLayerSummary(l.Layer, l.Weight, l.Count, l.NonZero, l.Sparsity, !considered.Contains(l.Weight) || !result.Masks.Keep.ContainsKey(l.Weight))).ToList(),
            result.Steps, history, clock.Elapsed.TotalSeconds, path, "secateur " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
        if (a.Report is { } reportPath)
        {
            long sizeBefore = File.Exists(a.Spec) ? new FileInfo(a.Spec).Length : OnnxSerializer.ToBytes(graph).Length;
            ReportWriter.Write(summary.ToReport(sizeBefore, new FileInfo(path).Length) with { Recipe = context.Recipe }, reportPath);
        }
        if (a.Json) context.WriteJson(summary);
        else context.Out.WriteLine(summary.Line());
        return 0;
    }
}

/// <summary>One Conv or Gemm weight in the weight-pruning summary.</summary>
/// <param name="Layer">Node name.</param>
/// <param name="Weight">Weight initializer.</param>
/// <param name="Count">Elements.</param>
/// <param name="NonZero">Non-zero elements.</param>
/// <param name="Sparsity">Fraction of zeros.</param>
/// <param name="Dense">True when the layer was left dense (excluded, the classifier, or not N:M-eligible).</param>
public sealed record SparseLayerSummary(string Layer, string Weight, long Count, long NonZero, double Sparsity, bool Dense);

/// <summary>What <c>prune --granularity weight</c> reports (its <c>--json</c> output).</summary>
public sealed record SparsePruneSummary(string Model, string Granularity, string Criterion, string Scope, string? Nm, string Schedule,
    double TargetSparsity, string? Data, long Params, long NonZeroParamsBefore, long NonZeroParams, double Sparsity, double WeightSparsity, double Compression,
    double? AccuracyBefore, double? AccuracyPruned, double? AccuracyFinetuned, bool? NmSatisfied,
    IReadOnlyList<SparseLayerSummary> Layers, IReadOnlyList<SparsityStep> Steps, IReadOnlyList<EpochSummary> Epochs,
    double TotalSeconds, string Output, string Command)
{
    /// <summary>The report: non-zero parameters, accuracy stages, non-zero weights per layer, fine-tuning curves.</summary>
    public RunReport ToReport(long fileBytesBefore, long fileBytesAfter)
    {
        var accuracy = new List<AccuracyStage>();
        void Stage(string name, double? v) { if (v is { } x) accuracy.Add(new AccuracyStage(name, x)); }
        Stage("before pruning", AccuracyBefore);
        Stage("right after pruning", AccuracyPruned);
        Stage("after fine-tuning", AccuracyFinetuned);
        return new RunReport
        {
            Kind = "prune (weights)",
            Model = Model,
            Command = Command,
            Summary =
            [
                new Measure("non-zero params", NonZeroParamsBefore, NonZeroParams),
                new Measure("ONNX file size (zeros stored; see 'compress')", fileBytesBefore, fileBytesAfter, "bytes"),
            ],
            Accuracy = accuracy,
            LayerUnit = "non-zero weights",
            Layers = Layers.Select(l => new LayerChange(l.Layer, l.Count, l.NonZero)).ToList(),
            Training = Epochs.Select((e, i) => new EpochPoint(i + 1, $"epoch {e.Epoch}", e.TrainLoss, e.TrainAccuracy, e.TestAccuracy)).ToList(),
            Notes =
            [
                FormattableString.Invariant($"Criterion {Criterion}, scope {Scope}{(Nm is null ? "" : $", {Nm} ({(NmSatisfied == true ? "verified" : "NOT satisfied")})")}, schedule {Schedule}; sparsity {Sparsity:P2} overall, {WeightSparsity:P2} of the pruned layers' weights; data: {Data ?? "none"}."),
                FormattableString.Invariant($"Time: {TotalSeconds:0.0} s."),
            ],
        };
    }

    /// <summary>The one-line summary.</summary>
    public string Line()
    {
        static string A(double? v) => v is { } x ? x.ToString("P2", CultureInfo.InvariantCulture) : "-";
        var layers = string.Join(", ", Layers.Select(l => FormattableString.Invariant($"{l.Layer} {l.Sparsity:P1}{(l.Dense ? " (dense)" : "")}")));
        return FormattableString.Invariant(
            $"{Model}: non-zero params {NonZeroParamsBefore:N0} -> {NonZeroParams:N0} of {Params:N0} ({Compression:0.00}x fewer, sparsity {Sparsity:P2} overall, {WeightSparsity:P2} of the considered layers' weights){(Nm is null ? "" : $", {Nm} {(NmSatisfied == true ? "verified" : "NOT satisfied")}")}; ") +
            $"accuracy before {A(AccuracyBefore)}, right after pruning {A(AccuracyPruned)}, after fine-tuning {A(AccuracyFinetuned)}; layers: {layers}; saved {Output}";
    }
}
