using System.Globalization;
using Secateur.Pruning;
using Secateur.Pruning.Unstructured;
using Secateur.Quantization;

namespace Secateur.Reporting;

/// <summary>The files a run read and wrote, which a report quotes but the workflow does not know.</summary>
/// <param name="Output">Where the result was saved.</param>
/// <param name="BytesBefore">Size of the input model (its file, or the serialised graph).</param>
/// <param name="BytesAfter">Size of the saved result.</param>
public sealed record ReportFiles(string Output, long BytesBefore, long BytesAfter);

/// <summary>Builds <see cref="RunReport"/>s from the outcomes of the library's workflows.</summary>
public static class Reports
{
    /// <summary>The pruning report: summary figures, accuracy stages, per-group channels, trade-off points and fine-tuning curves.</summary>
    /// <param name="outcome">The run.</param>
    /// <param name="files">Input and output files, when the caller saved the result (null: no file sizes in the report).</param>
    /// <param name="command">The command (or call) that ran it, quoted in the report.</param>
    public static RunReport From(PruneOutcome outcome, ReportFiles? files = null, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var r = outcome.Request;
        var a = outcome.Stages;
        bool multi = outcome.Steps.Count > 1;
        var latency = outcome.Latency is { } l
            ? new[]
            {
                new Measure($"ORT p50 latency, batch {l.Budget.Batch} (budget {l.Budget.Milliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms)", l.DenseMs, l.PrunedMs, "ms"),
                new Measure($"ORT p90 latency, batch {l.Budget.Batch}", l.DenseP90Ms, l.PrunedP90Ms, "ms"),
            }
            : [];
        return new RunReport
        {
            Kind = "prune",
            Model = outcome.Original.Name,
            Command = command,
            Summary =
            [
                new Measure("params", outcome.Before.Params, outcome.After.Params),
                new Measure("MACs", outcome.Before.Macs, outcome.After.Macs),
                .. FileSize("ONNX file size", files),
                .. latency,
            ],
            Accuracy =
            [
                .. PruneStages(multi, a.Before, a.Pruned, a.Recalibrated, a.FineTuned, a.Refit, a.BatchNormRecovered),
                .. AgreementStages(multi, outcome.Agreement?.Pruned?.Score, outcome.Agreement?.Recalibrated?.Score, outcome.Agreement?.FineTuned?.Score),
            ],
            Layers = outcome.Groups.Select(g => new LayerChange(g.Group, g.Before, g.After)).ToList(),
            TradeOff = PruneTradeOff(outcome.Before.Macs, a.Before, multi ? outcome.Steps.Select(s => ((long)s.Step, s.Macs, s.Accuracy)).ToList() : [], outcome.After.Macs,
                a.FineTuned ?? a.Recalibrated ?? a.BatchNormRecovered ?? a.Refit ?? a.Pruned),
            Training = Curves(outcome.History.Select(e => ((long)e.Epoch, e.Train.Loss, e.Train.Top1, e.Test?.Score)), multi),
            Notes =
            [
                $"Criterion {r.Importance.Name}, {r.Allocation.Kind.ToString().ToLowerInvariant()} allocation, target {r.Target}; data: {r.Data?.Name ?? "none"}.",
                PruneTime(outcome.PruneSeconds, outcome.TotalSeconds, outcome.Stop),
                .. r.Data?.Train.HasMasks == true ? (string[])["Segmentation: every accuracy figure is the mean IoU over the classes present on the test masks (the fine-tuning curves' training accuracy is pixel accuracy)."] : [],
            ],
        };
    }

    /// <summary>The weight-pruning report: non-zero parameters, accuracy stages, non-zero weights per layer, training curves.</summary>
    /// <param name="outcome">The run.</param>
    /// <param name="files">Input and output files, when the caller saved the result (null: no file sizes in the report).</param>
    /// <param name="command">The command (or call) that ran it, quoted in the report.</param>
    public static RunReport From(SparsityOutcome outcome, ReportFiles? files = null, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var report = outcome.Result.Report;
        return new RunReport
        {
            Kind = "prune (weights)",
            Model = outcome.Original.Name,
            Command = command,
            Summary =
            [
                new Measure("non-zero params", outcome.Before.NonZeroParams, report.NonZeroParams),
                .. FileSize("ONNX file size (zeros stored; see 'compress')", files),
            ],
            Accuracy = Stages(("before pruning", outcome.AccuracyBefore), ("right after pruning", outcome.AccuracyPruned), ("after fine-tuning", outcome.AccuracyFineTuned)),
            LayerUnit = "non-zero weights",
            Layers = outcome.Layers.Select(l => new LayerChange(l.Layer, l.Count, l.NonZero)).ToList(),
            Training = Curves(outcome.History.Select(e => ((long)e.Epoch, e.Train.Loss, e.Train.Top1, e.Test?.Top1)), false),
            Notes =
            [
                FormattableString.Invariant($"Criterion {outcome.Request.CriterionName}, scope {outcome.Request.ScopeName}{Nm(outcome)}, schedule {outcome.Request.ScheduleName}; sparsity {report.Sparsity:P2} overall, {outcome.Result.Steps[^1].Sparsity:P2} of the pruned layers' weights; data: {outcome.Request.Data?.Name ?? "none"}."),
                $"Time: {Wording.Duration(outcome.TotalSeconds)}.",
            ],
        };
    }

    /// <summary>The quantization report: accuracy, size and ONNX Runtime latency of the fp32 and int8 models.</summary>
    /// <param name="outcome">The run.</param>
    /// <param name="command">The command (or call) that ran it, quoted in the report.</param>
    public static RunReport From(QuantizeReport outcome, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return new RunReport
        {
            Kind = "quantize (int8)",
            Model = outcome.Model,
            Command = command,
            Summary =
            [
                new Measure("ONNX file size", outcome.FloatBytes, outcome.Int8Bytes, "bytes"),
                .. outcome.Latency.Select(l => new Measure($"ORT p50 latency, batch {l.Batch} ({Wording.Count(outcome.Threads, "thread")})", l.FloatP50Ms, l.Int8P50Ms, "ms")),
            ],
            Accuracy = Stages(("fp32 (ONNX Runtime)", outcome.FloatAccuracy), ("int8 (ONNX Runtime)", outcome.Int8Accuracy), ("same prediction", outcome.Agreement)),
            Notes =
            [
                .. outcome.Latency.Count == 0 ? Array.Empty<string>() :
                [
                    "Speed-up (fp32 ÷ int8 latency, the median over interleaved rounds with their interquartile range): "
                        + string.Join(", ", outcome.Latency.Select(l => $"batch {l.Batch} {Wording.Spread(l.Speedup, l.SpeedupLow, l.SpeedupHigh)} over {Wording.Count(l.Rounds, "round")}")) + ".",
                ],
                $"Calibration {outcome.Method} on {Wording.Count(outcome.CalibrationImages, "image")}; {Wording.Count(outcome.QuantizedNodes, "node")} quantized; accuracy on {Wording.Count(outcome.TestImages, "test image")} of {outcome.Data}; ONNX Runtime {outcome.OnnxRuntime}.",
                $"Saved {outcome.Output}.",
            ],
        };
    }

    /// <summary>The sensitivity report: each group's accuracy with only it pruned, at each ratio, against the unpruned model's.</summary>
    /// <param name="model">The model's name.</param>
    /// <param name="criterion">The importance criterion that chose the channels.</param>
    /// <param name="baseline">Accuracy of the unpruned model on the same images.</param>
    /// <param name="points">Every measurement.</param>
    /// <param name="validationImages">How many held-out training images the accuracies are measured on.</param>
    /// <param name="preprocessing">How the images were fed, in words (null: not known).</param>
    /// <param name="command">The command (or call) that ran it, quoted in the report.</param>
    public static RunReport Sensitivity(string model, string criterion, double baseline, IReadOnlyList<SensitivityPoint> points, long validationImages,
        string? preprocessing = null, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        return new RunReport
        {
            Kind = "sensitivity",
            Model = model,
            Command = command,
            SensitivityBaseline = baseline,
            Sensitivity = points.GroupBy(p => p.Group).Select(g => new SensitivityCurve(g.Key, g.First().Channels,
                g.Select(p => new RatioAccuracy(p.Ratio, p.Accuracy)).ToList())).ToList(),
            Notes = [$"Criterion {criterion}; accuracy on {Wording.Count(validationImages, "held-out training image")}; baseline {baseline.ToString("P2", CultureInfo.InvariantCulture)}"
                + (preprocessing is null ? "." : $"; input preprocessing {preprocessing}.")],
        };
    }

    private static Measure[] FileSize(string name, ReportFiles? files) =>
        files is null ? [] : [new Measure(name, files.BytesBefore, files.BytesAfter, "bytes")];

    /// <summary>The stages that were measured, in order (a stage without a value was not run).</summary>
    internal static List<AccuracyStage> Stages(params (string Name, double? Value)[] stages) =>
        stages.Where(s => s.Value is not null).Select(s => new AccuracyStage(s.Name, s.Value!.Value)).ToList();

    /// <summary>
    /// Without training labels: agreement with the unpruned model at each stage (its score: top-1 agreement, mIoU
    /// against the dense argmax, or cosine; the mean over outputs), beside the accuracies the test labels give.
    /// </summary>
    internal static List<AccuracyStage> AgreementStages(bool multiStep, double? pruned, double? recalibrated, double? fineTuned)
    {
        string first = multiStep ? " (step 1)" : "";
        return Stages(("agreement with the unpruned model, right after pruning" + first, pruned),
            ("agreement with the unpruned model, after BN recalibration" + first, recalibrated), ("agreement with the unpruned model, after fine-tuning", fineTuned));
    }

    /// <summary>A structured prune's accuracy stages; with several steps, "right after pruning" is measured after the first one.</summary>
    internal static List<AccuracyStage> PruneStages(bool multiStep, double? before, double? pruned, double? recalibrated, double? fineTuned, double? refit = null, double? bnRecovered = null)
    {
        string first = multiStep ? " (step 1)" : "";
        return Stages(("before pruning", before), ("right after pruning" + first, pruned), ("after least-squares refit" + first, refit),
            ("after BN recovery" + first, bnRecovered),
            ("after BN recalibration" + first, recalibrated), ("after fine-tuning", fineTuned));
    }

    /// <summary>The dense model, every evaluated step (of a multi-step schedule) and the result, unless the last step is the result.</summary>
    internal static List<TradeOffPoint> PruneTradeOff(long macsBefore, double? dense, IReadOnlyList<(long Step, long Macs, double? Accuracy)> steps, long macsAfter, double? final)
    {
        var points = new List<TradeOffPoint>();
        if (dense is { } d) points.Add(new TradeOffPoint("dense", macsBefore, d, Baseline: true));
        points.AddRange(steps.Where(s => s.Accuracy is not null).Select(s => new TradeOffPoint($"step {s.Step}", s.Macs, s.Accuracy!.Value)));
        if (final is { } f && !points.Any(p => !p.Baseline && p.Macs == macsAfter && p.Accuracy == f))
            points.Add(new TradeOffPoint("result", macsAfter, f));
        return points;
    }

    /// <summary>A structured prune's time note.</summary>
    internal static string PruneTime(double pruneSeconds, double totalSeconds, string? stop) =>
        $"Time: pruning (scoring, allocation, removal; every step) {Wording.Duration(pruneSeconds)}, total {Wording.Duration(totalSeconds)}. Schedule: {stop}.";

    /// <summary>Training curves; epoch numbers restart with every fine-tuning step of a schedule, which labels them.</summary>
    internal static List<EpochPoint> Curves(IEnumerable<(long Epoch, double Loss, double Accuracy, double? Test)> epochs, bool multiStep)
    {
        int step = 1, index = 0;
        long previous = long.MaxValue;
        var points = new List<EpochPoint>();
        foreach (var e in epochs)
        {
            if (e.Epoch <= previous && index > 0) step++;
            previous = e.Epoch;
            points.Add(new EpochPoint(++index, multiStep ? $"step {step}, epoch {e.Epoch}" : $"epoch {e.Epoch}", e.Loss, e.Accuracy, e.Test));
        }
        return points;
    }

    private static string Nm(SparsityOutcome o) =>
        o.Request.Sparsity.Nm is { } nm ? $", {nm} ({(o.NmSatisfied == true ? "verified" : "NOT satisfied")})" : "";
}
