using System.CommandLine;
using System.Globalization;
using Secateur.Deployment;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur bench</c>: inference latency and throughput with ONNX Runtime, alone or against a baseline.</summary>
public static class BenchCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file (any model ONNX Runtime runs) or zoo model name" };
        var batch = new Option<string>("--batch") { Description = "batch sizes, comma-separated", DefaultValueFactory = _ => "1" };
        var threads = new Option<int?>("--threads") { Description = "ONNX Runtime intra-op threads (default: all cores)" };
        var warmup = new Option<int>("--warmup") { Description = "untimed runs before timing, per batch size and model", DefaultValueFactory = _ => 10 };
        var runs = new Option<int?>("--runs") { Description = $"timed runs per batch size and model (default {LatencyOptions.DefaultRuns}; with --seconds, whichever ends first)" };
        var seconds = new Option<double?>("--seconds") { Description = "time budget of the timed runs per batch size" };
        var against = new Option<string?>("--against") { Description = "baseline model (.onnx or zoo name) timed interleaved with the model; reports the speed-up over it" };
        var inputShape = new Option<string?>("--input-shape") { Description = "input shape without the batch (e.g. 3x224x224), for models whose input has symbolic sizes" };
        var json = CommonOptions.Json();
        var input = CommonOptions.Input();
        var classes = CommonOptions.Classes();
        var cmd = new Command("bench", "measure inference latency (p50/p90) and throughput with ONNX Runtime; --against compares with a baseline")
        {
            model, batch, threads, warmup, runs, seconds, against, inputShape, json, input, classes,
        };
        cmd.SetAction(r =>
        {
            var options = new LatencyOptions
            {
                BatchSizes = ParseList(r.GetValue(batch)!, "--batch"),
                Warmup = r.GetValue(warmup),
                Runs = r.GetValue(runs),
                Seconds = r.GetValue(seconds),
                InputShape = r.GetValue(inputShape) is { } s ? ParseDims(s) : null,
            }.Validated();
            if (r.GetValue(threads) is { } t && t < 1) throw new SecateurException(ErrorCode.BadArgument, $"--threads must be at least 1 (got {t})");
            var settings = new SessionSettings(r.GetValue(threads) ?? 0);
            var subject = Load(r.GetValue(model)!, r.GetValue(input), r.GetValue(classes));
            var baseline = r.GetValue(against) is { } b ? Load(b, r.GetValue(input), r.GetValue(classes)) : null;
            var progress = Progress(context);
            var report = Run(subject, baseline, settings, options, progress);
            if (r.GetValue(json)) context.WriteJson(report);
            else Render(context, report);
            return 0;
        });
        return cmd;
    }

    /// <summary>Times the model (and the baseline, interleaved) and gathers everything the verb reports.</summary>
    internal static BenchReport Run(BenchmarkModel subject, BenchmarkModel? baseline, SessionSettings settings, LatencyOptions options, Action<LatencyProgress>? progress)
    {
        using var session = subject.Open(settings);
        var subjectInfo = Info(subject, session, options);
        if (baseline is null)
        {
            var stats = LatencyBenchmark.Measure(session, options, progress);
            return new BenchReport(subjectInfo, null, settings.EffectiveThreads, options.Warmup, options.Runs, options.Seconds, OnnxRuntimeSession.RuntimeVersion,
                null, stats.Select(s => new BenchRow(s.Batch, s, null, null)).ToList());
        }
        using var reference = baseline.Open(settings);
        var baselineInfo = Info(baseline, reference, options);
        double? macsRatio = subjectInfo.Macs is { } m && baselineInfo.Macs is { } bm && m > 0 ? bm / (double)m : null;
        // The baseline is A: the speed-up is its median latency over the model's.
        var rows = LatencyBenchmark.Compare(reference, session, options, progress);
        return new BenchReport(subjectInfo, baselineInfo, settings.EffectiveThreads, options.Warmup, options.Runs, options.Seconds, OnnxRuntimeSession.RuntimeVersion,
            macsRatio, rows.Select(c => new BenchRow(c.Batch, c.B, c.A, c.Speedup)).ToList());
    }

    private static ModelInfo Info(BenchmarkModel model, OnnxRuntimeSession session, LatencyOptions options)
    {
        var stats = model.Stats(options.InputShape);
        return new ModelInfo(model.Name, session.ShapeText, stats?.Params, stats?.Macs,
            model.Graph is null ? $"params and MACs unknown: {model.ImportError}" : stats is null ? "params and MACs unknown: give --input-shape" : null);
    }

    /// <summary>A file is read as ONNX bytes (and imported if Secateur can); otherwise the spec names a zoo model, exported to ONNX.</summary>
    private static BenchmarkModel Load(string spec, string? input, long? classes) =>
        File.Exists(spec) || spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)
            ? BenchmarkModel.FromFile(spec)
            : BenchmarkModel.FromGraph(ModelSource.Load(spec, input, classes), spec);

    /// <summary>Progress lines on stderr, only for measurements that take a while (first after a second, then every two).</summary>
    private static Action<LatencyProgress> Progress(CliContext context)
    {
        var next = new Dictionary<(string, int), TimeSpan>();
        return p =>
        {
            var key = (p.Model, p.Batch);
            var due = next.GetValueOrDefault(key, TimeSpan.FromSeconds(1));
            if (p.Elapsed < due) return;
            next[key] = p.Elapsed + TimeSpan.FromSeconds(2);
            string of = p.MaxRuns is { } max ? $"/{max}" : "";
            string budget = p.Budget is { } b ? FormattableString.Invariant($" of {b.TotalSeconds:0.#} s") : "";
            context.Error.WriteLine(FormattableString.Invariant($"{p.Model}, batch {p.Batch}: {p.Run}{of} runs, {p.Elapsed.TotalSeconds:0.0} s{budget}"));
        };
    }

    private static void Render(CliContext context, BenchReport report)
    {
        static string Ms(double v) => v.ToString(v < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture);
        static string Count(long? v) => v is { } x ? InspectCommand.Human(x) : "unknown";
        var threads = $"{report.Threads} thread{(report.Threads == 1 ? "" : "s")}, ONNX Runtime {report.OnnxRuntime}";
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
        table.Title($"{Markup.Escape(report.Model.Name)} against {Markup.Escape(report.Baseline.Name)}, interleaved");
        table.AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("runs").RightAligned())
            .AddColumn(new TableColumn("baseline p50/p90 ms").RightAligned()).AddColumn(new TableColumn("model p50/p90 ms").RightAligned())
            .AddColumn(new TableColumn("speed-up").RightAligned()).AddColumn(new TableColumn("MACs ratio").RightAligned());
        string macs = report.MacsRatio is { } mr ? mr.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "unknown";
        foreach (var row in report.Results)
            table.AddRow(row.Batch.ToString(CultureInfo.InvariantCulture), row.Model.Runs.ToString(CultureInfo.InvariantCulture),
                $"{Ms(row.Baseline!.P50Ms)} / {Ms(row.Baseline.P90Ms)}", $"{Ms(row.Model.P50Ms)} / {Ms(row.Model.P90Ms)}",
                row.Speedup!.Value.ToString("0.00", CultureInfo.InvariantCulture) + "x", macs);
        context.Console.Write(table);
        context.Out.WriteLine($"input {report.Model.Input}; {threads}; MACs: baseline {Count(report.Baseline.Macs)}, model {Count(report.Model.Macs)}; speed-up = baseline p50 / model p50 (> 1: the model is faster)");
        foreach (var note in new[] { report.Baseline.Note, report.Model.Note }.OfType<string>()) context.Out.WriteLine(note);
    }

    internal static IReadOnlyList<int> ParseList(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new List<int>();
        foreach (var p in parts)
            if (int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 1) values.Add(v);
            else throw new SecateurException(ErrorCode.BadArgument, $"bad {option} '{text}': expected positive integers like 1,64");
        if (values.Count == 0) throw new SecateurException(ErrorCode.BadArgument, $"bad {option} '{text}': expected positive integers like 1,64");
        return values;
    }

    /// <summary>Parses sizes like <c>3x224x224</c> (any number of dimensions).</summary>
    internal static IReadOnlyList<long> ParseDims(string text)
    {
        var parts = text.Split('x', 'X', ',');
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] < 1)
                throw new SecateurException(ErrorCode.BadArgument, $"bad --input-shape '{text}': expected positive sizes without the batch, like 3x224x224");
        return dims;
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
/// <param name="Speedup">Baseline p50 ÷ model p50 (with <c>--against</c>).</param>
public sealed record BenchRow(int Batch, LatencyStats Model, LatencyStats? Baseline, double? Speedup);

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
    double? MacsRatio, IReadOnlyList<BenchRow> Results);
