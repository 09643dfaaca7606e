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
        var threads = CommonOptions.Threads();
        var warmup = new Option<int>("--warmup") { Description = "untimed runs before timing, per batch size and model", DefaultValueFactory = _ => 10 };
        var runs = new Option<int?>("--runs") { Description = $"timed runs per batch size and model (default {LatencyOptions.DefaultRuns}; with --seconds, whichever ends first)" };
        var seconds = new Option<double?>("--seconds") { Description = "time budget of the timed runs per batch size" };
        var against = new Option<string?>("--against") { Description = "baseline model (.onnx or zoo name) timed with the model in alternating ABBA rounds; reports the speed-up over it with its spread over the rounds" };
        var inputShape = new Option<string?>("--input-shape") { Description = "input shape without the batch (e.g. 3x224x224), for models whose input has symbolic sizes" };
        var json = CommonOptions.Json();
        var input = CommonOptions.Input();
        var classes = CommonOptions.Classes();
        var cmd = new Command("bench", "measure inference latency (p50/p90) and throughput with ONNX Runtime; --against compares with a baseline")
        {
            model, batch, threads, warmup, runs, seconds, against, inputShape, json, input, classes,
        };
        LatencyOptions Options(ParseResult r) => new LatencyOptions
        {
            BatchSizes = CommonOptions.ParseList(r.GetValue(batch)!, "--batch"),
            Warmup = r.GetValue(warmup),
            Runs = r.GetValue(runs),
            Seconds = r.GetValue(seconds),
            InputShape = r.GetValue(inputShape) is { } s ? ParseDims(s) : null,
        }.Validated();
        // What a recipe step is checked with before any step runs (secateur run); secateur run checks --against's file.
        context.Checks[cmd.Name] = r => Options(r);
        cmd.SetAction(r =>
        {
            var options = Options(r);
            var settings = CommonOptions.Sessions(CommonOptions.ThreadCount(r, threads));
            var subject = Load(r.GetValue(model)!, r.GetValue(input), r.GetValue(classes));
            var baseline = r.GetValue(against) is { } b ? Load(b, r.GetValue(input), r.GetValue(classes)) : null;
            var progress = Progress(context);
            var report = Run(subject, baseline, settings, options, progress);
            if (r.GetValue(json)) context.WriteJson(report);
            else BenchView.Render(context, report);
            return 0;
        });
        return cmd;
    }

    /// <summary>Times the model (and the baseline, in ABBA rounds) and gathers everything the verb reports.</summary>
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
            macsRatio, rows.Select(c => new BenchRow(c.Batch, c.B, c.A, c.Speedup, c.SpeedupLow, c.SpeedupHigh, c.Rounds)).ToList());
    }

    private static ModelInfo Info(BenchmarkModel model, OnnxRuntimeSession session, LatencyOptions options)
    {
        var stats = model.Stats(options.InputShape);
        return new ModelInfo(model.Name, session.ShapeText, stats?.Params, stats?.Macs,
            model.Graph is null ? $"params and MACs unknown: {Short(model.ImportError)}" : stats is null ? "params and MACs unknown: give --input-shape" : null);
    }

    /// <summary>
    /// One line for why a file did not import: a QDQ file lists every Q/DQ node and tensor (~15 KB), which says no more
    /// than "int8"; anything else is cut at its first list of nodes.
    /// </summary>
    internal static string Short(string? importError)
    {
        if (importError is null) return "it did not import";
        if (importError.Contains("QuantizeLinear", StringComparison.Ordinal))
            return "an int8 (QDQ) model, which Secateur times but does not import";
        int cut = importError.IndexOf(" (nodes", StringComparison.Ordinal);
        var head = cut > 0 ? importError[..cut] + " (…)" : importError;
        return head.Length > 200 ? head[..200] + "…" : head;
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
