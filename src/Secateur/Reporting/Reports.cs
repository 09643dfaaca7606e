using System.Globalization;
using Secateur.Pruning;
using Secateur.Pruning.Unstructured;
using Secateur.Quantization;
using Secateur.Training;

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
        // With several steps, "right after pruning" is measured after the first one.
        string first = multi ? " (step 1)" : "";
        var tradeOff = new List<TradeOffPoint>();
        if (a.Before is { } dense) tradeOff.Add(new TradeOffPoint("dense", outcome.Before.Macs, dense, Baseline: true));
        if (multi) tradeOff.AddRange(outcome.Steps.Where(s => s.Accuracy is not null).Select(s => new TradeOffPoint($"step {s.Step}", s.Macs, s.Accuracy!.Value)));
        if ((a.FineTuned ?? a.Recalibrated ?? a.Pruned) is { } final && !tradeOff.Any(p => !p.Baseline && p.Macs == outcome.After.Macs && p.Accuracy == final))
            tradeOff.Add(new TradeOffPoint("result", outcome.After.Macs, final));
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
            Accuracy = Stages(("before pruning", a.Before), ("right after pruning" + first, a.Pruned), ("after least-squares refit" + first, a.Refit), ("after BN recalibration" + first, a.Recalibrated),
                ("after fine-tuning", a.FineTuned)),
            Layers = outcome.Groups.Select(g => new LayerChange(g.Group, g.Before, g.After)).ToList(),
            TradeOff = tradeOff,
            Training = Curves(outcome.History, multi),
            Notes =
            [
                $"Criterion {r.Importance.Name}, {r.Allocation.Kind.ToString().ToLowerInvariant()} allocation, target {r.Target}; data: {r.Data?.Name ?? "none"}.",
                FormattableString.Invariant($"Time: pruning (scoring, allocation, removal; every step) {outcome.PruneSeconds:0.000} s, total {outcome.TotalSeconds:0.0} s. Schedule: {outcome.Stop}."),
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
            Training = outcome.History.Select((e, i) => new EpochPoint(i + 1, $"epoch {e.Epoch}", e.Train.Loss, e.Train.Top1, e.Test?.Top1)).ToList(),
            Notes =
            [
                FormattableString.Invariant($"Criterion {outcome.Request.CriterionName}, scope {outcome.Request.ScopeName}{Nm(outcome)}, schedule {outcome.Request.ScheduleName}; sparsity {report.Sparsity:P2} overall, {outcome.Result.Steps[^1].Sparsity:P2} of the pruned layers' weights; data: {outcome.Request.Data?.Name ?? "none"}."),
                FormattableString.Invariant($"Time: {outcome.TotalSeconds:0.0} s."),
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
                .. outcome.Latency.Select(l => new Measure($"ORT p50 latency, batch {l.Batch} ({outcome.Threads} threads)", l.FloatP50Ms, l.Int8P50Ms, "ms")),
            ],
            Accuracy = Stages(("fp32 (ONNX Runtime)", outcome.FloatAccuracy), ("int8 (ONNX Runtime)", outcome.Int8Accuracy), ("same prediction", outcome.Agreement)),
            Notes =
            [
                FormattableString.Invariant($"Calibration {outcome.Method} on {outcome.CalibrationImages} images; {outcome.QuantizedNodes} nodes quantized; accuracy on {outcome.TestImages} test images of {outcome.Data}; ONNX Runtime {outcome.OnnxRuntime}."),
                $"Saved {outcome.Output}.",
            ],
        };
    }

    private static Measure[] FileSize(string name, ReportFiles? files) =>
        files is null ? [] : [new Measure(name, files.BytesBefore, files.BytesAfter, "bytes")];

    /// <summary>The stages that were measured, in order (a stage without a value was not run).</summary>
    private static List<AccuracyStage> Stages(params (string Name, double? Value)[] stages) =>
        stages.Where(s => s.Value is not null).Select(s => new AccuracyStage(s.Name, s.Value!.Value)).ToList();

    /// <summary>Training curves; epoch numbers restart with every fine-tuning step of a schedule, which labels them.</summary>
    private static List<EpochPoint> Curves(IReadOnlyList<EpochResult> history, bool multiStep)
    {
        int step = 1, index = 0, previous = int.MaxValue;
        var points = new List<EpochPoint>();
        foreach (var e in history)
        {
            if (e.Epoch <= previous && index > 0) step++;
            previous = e.Epoch;
            points.Add(new EpochPoint(++index, multiStep ? $"step {step}, epoch {e.Epoch}" : $"epoch {e.Epoch}", e.Train.Loss, e.Train.Top1, e.Test?.Top1));
        }
        return points;
    }

    private static string Nm(SparsityOutcome o) =>
        o.Request.Sparsity.Nm is { } nm ? $", {nm} ({(o.NmSatisfied == true ? "verified" : "NOT satisfied")})" : "";
}
