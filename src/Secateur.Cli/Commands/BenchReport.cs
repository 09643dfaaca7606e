using System.Globalization;
using Secateur.Deployment;
using Secateur.Reporting;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary>How <c>bench</c> shows its report as tables.</summary>
internal static class BenchView
{
    /// <summary>A speed-up with its spread over rounds, e.g. <c>1.00x (0.99-1.01)</c>; the spread is left out when there is none.</summary>
    internal static string Spread(double speedup, double? low, double? high) => Wording.Spread(speedup, low, high);

    internal static void Render(CliContext context, BenchReport report)
    {
        // One precision for every latency of the table, chosen by the smallest.
        var msFormat = Wording.Format(report.Results.SelectMany(r => new[] { r.Model.P50Ms, r.Model.P90Ms, r.Baseline?.P50Ms ?? 0, r.Baseline?.P90Ms ?? 0 }));
        string Ms(double v) => v.ToString(msFormat, CultureInfo.InvariantCulture);
        static string Count(long? v) => v is { } x ? InspectCommand.Human(x) : "unknown";
        var threads = $"{Wording.Count(report.Threads, "thread")}, ONNX Runtime {report.OnnxRuntime}";
        var table = new Table().Border(TableBorder.Simple);
        if (report.Baseline is null)
        {
            table.Title($"{Markup.Escape(report.Model.Name)}  input {report.Model.Input}");
            table.AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("runs").RightAligned())
                .AddColumn(new TableColumn("p50 ms").RightAligned()).AddColumn(new TableColumn("p90 ms").RightAligned()).AddColumn(new TableColumn("images/s").RightAligned());
            foreach (var row in report.Results)
                table.AddRow(row.Batch.ToString(CultureInfo.InvariantCulture), row.Model.Runs.ToString(CultureInfo.InvariantCulture),
                    Ms(row.Model.P50Ms), Ms(row.Model.P90Ms), row.Model.ImagesPerSecond.ToString("0.0", CultureInfo.InvariantCulture));
            context.Console.Write(table);
            context.Out.WriteLine($"params {Count(report.Model.Params)}, MACs {Count(report.Model.Macs)}{(report.Model.Note is { } n ? $" ({n})" : "")}; {threads}");
            return;
        }
        table.Title($"{Markup.Escape(report.Model.Name)} against {Markup.Escape(report.Baseline.Name)}, ABBA rounds");
        table.AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("runs").RightAligned())
            .AddColumn(new TableColumn("baseline p50/p90 ms").RightAligned()).AddColumn(new TableColumn("model p50/p90 ms").RightAligned())
            .AddColumn(new TableColumn("speed-up").RightAligned()).AddColumn(new TableColumn("MACs ratio").RightAligned());
        string macs = report.MacsRatio is { } mr ? mr.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "unknown";
        foreach (var row in report.Results)
            table.AddRow(row.Batch.ToString(CultureInfo.InvariantCulture), row.Model.Runs.ToString(CultureInfo.InvariantCulture),
                $"{Ms(row.Baseline!.P50Ms)} / {Ms(row.Baseline.P90Ms)}", $"{Ms(row.Model.P50Ms)} / {Ms(row.Model.P90Ms)}",
                Spread(row.Speedup!.Value, row.SpeedupLow, row.SpeedupHigh), macs);
        context.Console.Write(table);
        context.Out.WriteLine($"input {report.Model.Input}; {threads}; MACs: baseline {Count(report.Baseline.Macs)}, model {Count(report.Model.Macs)}; speed-up = median over {Wording.Count(report.Results[0].Rounds ?? 1, "round")} of baseline / model latency, with the rounds' interquartile range (> 1: the model is faster)");
        foreach (var note in new[] { report.Baseline.Note, report.Model.Note }.OfType<string>()) context.Out.WriteLine(note);
    }
}

/// <summary>One model in a benchmark report.</summary>
/// <param name="Name">File or zoo name.</param>
/// <param name="Input">Input dimensions as the model declares them, e.g. <c>Nx1x28x28</c>.</param>
/// <param name="Params">Parameters, or null when unknown.</param>
/// <param name="Macs">MACs per image, or null when unknown.</param>
/// <param name="Note">Why the counts are unknown, if they are.</param>
public sealed record ModelInfo(string Name, string Input, long? Params, long? Macs, string? Note);

/// <summary>One batch size of a benchmark report.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="Model">The model's latency.</param>
/// <param name="Baseline">The baseline's latency (with <c>--against</c>).</param>
/// <param name="Speedup">Baseline ÷ model latency, the median over ABBA rounds (with <c>--against</c>).</param>
/// <param name="SpeedupLow">Lower quartile of the per-round speed-ups.</param>
/// <param name="SpeedupHigh">Upper quartile of the per-round speed-ups.</param>
/// <param name="Rounds">Rounds the speed-up comes from.</param>
public sealed record BenchRow(int Batch, LatencyStats Model, LatencyStats? Baseline, double? Speedup,
    double? SpeedupLow = null, double? SpeedupHigh = null, int? Rounds = null)
{
    /// <summary>The unambiguous name of <see cref="Speedup"/>, a latency ratio (<c>speedup</c> is kept for existing consumers).</summary>
    public double? LatencySpeedup => Speedup;
}


/// <summary>Everything <c>bench</c> reports (its <c>--json</c> output).</summary>
/// <param name="Model">The model.</param>
/// <param name="Baseline">The baseline, with <c>--against</c>.</param>
/// <param name="Threads">Intra-op threads.</param>
/// <param name="Warmup">Warm-up runs.</param>
/// <param name="Runs">Requested timed runs, if given.</param>
/// <param name="Seconds">Requested time budget, if given.</param>
/// <param name="OnnxRuntime">ONNX Runtime version.</param>
/// <param name="MacsRatio">Baseline MACs ÷ model MACs, when both are known.</param>
/// <param name="Results">One row per batch size.</param>
public sealed record BenchReport(ModelInfo Model, ModelInfo? Baseline, int Threads, int Warmup, int? Runs, double? Seconds, string OnnxRuntime,
    double? MacsRatio, IReadOnlyList<BenchRow> Results)
{
    /// <summary>What printed it (the schema of this object), for <c>secateur report</c>; first in the JSON.</summary>
    [System.Text.Json.Serialization.JsonPropertyOrder(-1)]
    public string Verb => "bench";
}
