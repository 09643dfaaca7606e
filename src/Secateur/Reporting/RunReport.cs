namespace Secateur.Reporting;

/// <summary>
/// Everything one run measured, in a form every report renders from: the HTML page, the Markdown summary and
/// the JSON file (which is this record serialized, so a report can be re-rendered later with <c>secateur report</c>).
/// Sections that a run did not measure stay empty and are left out of the rendered report.
/// </summary>
public sealed record RunReport
{
    /// <summary>What ran: <c>prune</c>, <c>sensitivity</c>, <c>quantize</c>, ….</summary>
    public required string Kind { get; init; }

    /// <summary>The model's name.</summary>
    public required string Model { get; init; }

    /// <summary>The exact command line that produced the report, when it came from the CLI.</summary>
    public string? Command { get; init; }

    /// <summary>The recipe text that produced the report, when it came from <c>secateur run</c>.</summary>
    public string? Recipe { get; init; }

    /// <summary>When the run finished (UTC).</summary>
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Before/after figures: parameters, MACs, file size, latency, ….</summary>
    public IReadOnlyList<Measure> Summary { get; init; } = [];

    /// <summary>Test accuracy at each stage: before pruning, right after, after recalibration, after fine-tuning.</summary>
    public IReadOnlyList<AccuracyStage> Accuracy { get; init; } = [];

    /// <summary>Per layer (or group): channels or non-zero weights before and after.</summary>
    public IReadOnlyList<LayerChange> Layers { get; init; } = [];

    /// <summary>What the layer counts are: <c>channels</c> or <c>non-zero weights</c>.</summary>
    public string LayerUnit { get; init; } = "channels";

    /// <summary>Accuracy against MACs for every evaluated model: the dense baseline, schedule steps, the result.</summary>
    public IReadOnlyList<TradeOffPoint> TradeOff { get; init; } = [];

    /// <summary>Accuracy of the unpruned model in the sensitivity analysis, when one ran.</summary>
    public double? SensitivityBaseline { get; init; }

    /// <summary>Per group: accuracy with only that group pruned, at each ratio.</summary>
    public IReadOnlyList<SensitivityCurve> Sensitivity { get; init; } = [];

    /// <summary>Training or fine-tuning epochs, in the order they ran (several steps follow one another).</summary>
    public IReadOnlyList<EpochPoint> Training { get; init; } = [];

    /// <summary>Tables that fit none of the sections above, e.g. <c>bench</c>'s latency per batch size.</summary>
    public IReadOnlyList<ReportTable> Tables { get; init; } = [];

    /// <summary>Free-form facts worth a line: criterion, allocation, schedule outcome, time spent.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>A table of already formatted cells (each column written with one precision by whoever made it).</summary>
/// <param name="Title">Its heading.</param>
/// <param name="Columns">Column headings.</param>
/// <param name="Rows">The rows, each as many cells as <paramref name="Columns"/>.</param>
public sealed record ReportTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>A figure before and after, e.g. parameters 272,186 → 136,009.</summary>
/// <param name="Name">What is measured, e.g. <c>params</c>, <c>MACs</c>, <c>file size</c>, <c>ORT p50 latency, batch 1</c>.</param>
/// <param name="Before">The value for the original model.</param>
/// <param name="After">The value for the result.</param>
/// <param name="Unit">Unit shown after the numbers (<c>bytes</c>, <c>ms</c>, empty for counts).</param>
public sealed record Measure(string Name, double Before, double After, string Unit = "")
{
    /// <summary>Before ÷ after: how many times smaller (or faster) the result is.</summary>
    public double? Ratio => After != 0 ? Before / After : null;
}

/// <summary>Test accuracy (0–1) at one stage of the run.</summary>
public sealed record AccuracyStage(string Stage, double Value);

/// <summary>One layer's (or group's) size before and after.</summary>
public sealed record LayerChange(string Name, long Before, long After);

/// <summary>One evaluated model on the accuracy–MACs plane.</summary>
/// <param name="Label">e.g. <c>dense</c>, <c>step 2</c>, <c>result</c>.</param>
/// <param name="Macs">Its multiply-accumulates.</param>
/// <param name="Accuracy">Its accuracy (0–1).</param>
/// <param name="Baseline">True for the dense model the others are compared with.</param>
public sealed record TradeOffPoint(string Label, long Macs, double Accuracy, bool Baseline = false);

/// <summary>A group's sensitivity: accuracy with a fraction of its channels removed.</summary>
public sealed record SensitivityCurve(string Group, long Channels, IReadOnlyList<RatioAccuracy> Points);

/// <summary>Accuracy (0–1) with <paramref name="Ratio"/> of a group's channels removed.</summary>
public sealed record RatioAccuracy(double Ratio, double Accuracy);

/// <summary>One training epoch.</summary>
/// <param name="Index">Position in the run, from 1 across all steps.</param>
/// <param name="Label">e.g. <c>step 1, epoch 3</c>.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TrainAccuracy">Training accuracy (0–1).</param>
/// <param name="TestAccuracy">Test accuracy (0–1) after the epoch, when measured.</param>
public sealed record EpochPoint(int Index, string Label, double TrainLoss, double TrainAccuracy, double? TestAccuracy);
