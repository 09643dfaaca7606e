using System.CommandLine;
using System.Globalization;
using Secateur.Data;
using Secateur.Deployment;
using Secateur.Onnx;
using Secateur.Quantization;
using Secateur.Reporting;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur quantize</c>: int8 post-training quantization to an ONNX QDQ model, with accuracy, size and latency against the float model.</summary>
public static class QuantizeCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file (or a zoo model name, untrained)" };
        var data = new Option<string?>("--data") { Description = $"calibration and test data: {DataSource.Forms}" };
        var dataDir = CommonOptions.DataDir();
        var images = new Option<int>("--calibration-images") { Description = "training images used to calibrate activation ranges", DefaultValueFactory = _ => QuantizationOptions.DefaultCalibrationImages };
        var method = new Option<string>("--method") { Description = "activation ranges: minmax or percentile", DefaultValueFactory = _ => "minmax" };
        var percentile = new Option<double>("--percentile") { Description = "upper percentile for --method percentile, in (50, 100]", DefaultValueFactory = _ => 99.99 };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the int8 model (default: <model>.int8.onnx)" };
        var testLimit = new Option<int?>("--test-limit") { Description = "evaluate only the first N test images" };
        var batch = new Option<string>("--batch") { Description = "batch sizes for the latency comparison, comma-separated", DefaultValueFactory = _ => "1,64" };
        var threads = new Option<int?>("--threads") { Description = "ONNX Runtime intra-op threads (default: all cores)" };
        var runs = new Option<int?>("--runs") { Description = $"timed runs per batch size and model (default {LatencyOptions.DefaultRuns})" };
        var seconds = new Option<double?>("--seconds") { Description = "time budget of the timed runs per batch size" };
        var fullRange = new Option<bool>("--full-range-weights") { Description = "8-bit weights (-127..127) instead of 7-bit: only for CPUs with VNNI, elsewhere ORT's int8 kernels can saturate" };
        var json = CommonOptions.Json();
        var reportFile = new Option<string?>("--report") { Description = "write a report: .html (.md and .json beside it), .md or .json" };
        var cmd = new Command("quantize", "int8 post-training quantization to an ONNX QDQ model; reports float vs int8 accuracy, file size and ONNX Runtime latency")
        {
            model, data, dataDir, images, method, percentile, output, testLimit, batch, threads, runs, seconds, fullRange, json, reportFile,
        };
        cmd.SetAction(r =>
        {
            var options = new QuantizationOptions
            {
                Method = QuantizationOptions.ParseMethod(r.GetValue(method)!),
                Percentile = r.GetValue(percentile),
                CalibrationImages = r.GetValue(images),
                ReduceRange = !r.GetValue(fullRange),
            }.Validated();
            if (options.Method == CalibrationMethod.MinMax && r.GetResult(percentile) is { Implicit: false })
                throw new SecateurException(ErrorCode.BadArgument, "--percentile only applies to --method percentile");
            if (r.GetValue(threads) is { } t && t < 1) throw new SecateurException(ErrorCode.BadArgument, $"--threads must be at least 1 (got {t})");
            var latency = new LatencyOptions
            {
                BatchSizes = BenchCommand.ParseList(r.GetValue(batch)!, "--batch"),
                Runs = r.GetValue(runs),
                Seconds = r.GetValue(seconds),
            }.Validated();
            var spec = r.GetValue(data) ?? throw new SecateurException(ErrorCode.BadArgument,
                "quantize needs data to calibrate on and to test with: give --data (e.g. --data fashion-mnist)");
            var set = DataSource.Resolve(spec, r.GetValue(dataDir));
            if (r.GetValue(testLimit) is { } n) set = set with { Test = set.Test.Take(Math.Max(1, n)) };
            var source = r.GetValue(model)!;
            var graph = ModelSource.Load(source, $"{set.Train.Channels}x{set.Train.Height}x{set.Train.Width}", set.Train.ClassCount);
            TrainingCliOptions.CheckCompatible(graph, set);
            var target = r.GetValue(output) ?? DefaultOutput(source);
            var report = Run(context, graph, source, set, options, target, new SessionSettings(r.GetValue(threads) ?? 0), latency);
            if (r.GetValue(reportFile) is { } reportPath)
                ReportWriter.Write(report.ToReport("secateur " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1))) with { Recipe = context.Recipe }, reportPath);
            if (r.GetValue(json)) context.WriteJson(report);
            else Render(context, report);
            return 0;
        });
        return cmd;
    }

    private static string DefaultOutput(string source) =>
        source.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? source[..^5] + ".int8.onnx" : source + ".int8.onnx";

    /// <summary>Quantizes, saves, evaluates both models with ONNX Runtime and times them interleaved.</summary>
    internal static QuantizeReport Run(CliContext context, Graph.ModelGraph graph, string source, DataSet set, QuantizationOptions options, string target,
        SessionSettings settings, LatencyOptions latency)
    {
        var err = context.Error;
        int calibration = Math.Min(options.CalibrationImages, set.Train.Count);
        err.WriteLine($"calibrating on {calibration:N0} {set.Name} training images ({Method(options)})");
        var quantized = Int8Quantizer.Quantize(graph, Int8Quantizer.CalibrationBatches(set, options), options);
        quantized.Save(target);
        var floatBytes = OnnxSerializer.ToBytes(graph);
        long floatSize = source.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(source) ? new FileInfo(source).Length : floatBytes.Length;
        long int8Size = new FileInfo(target).Length;
        err.WriteLine($"wrote {target} ({quantized.QuantizedNodes.Count} quantized nodes)");

        using var fp32 = OnnxRuntimeSession.FromBytes(floatBytes, "fp32", settings);
        using var int8 = OnnxRuntimeSession.FromBytes(quantized.Onnx, "int8", settings);
        err.WriteLine($"evaluating fp32 and int8 with ONNX Runtime on {set.Test.Count:N0} test images");
        var f = OnnxRuntimeEvaluation.Evaluate(fp32, set.TestLoader(256));
        var q = OnnxRuntimeEvaluation.Evaluate(int8, set.TestLoader(256));
        err.WriteLine($"timing fp32 and int8 interleaved at batch {string.Join(", ", latency.BatchSizes)}");
        var times = LatencyBenchmark.Compare(fp32, int8, latency);
        return new QuantizeReport(graph.Name, target, set.Name, Method(options), quantized.CalibrationImages, quantized.QuantizedNodes.Count,
            f.Samples, f.Top1, q.Top1, (f.Top1 - q.Top1) * 100, q.Agreement(f), floatSize, int8Size, floatSize / (double)int8Size,
            settings.EffectiveThreads, OnnxRuntimeSession.RuntimeVersion,
            times.Select(c => new QuantizeLatency(c.Batch, c.A.Runs, c.A.P50Ms, c.B.P50Ms, c.Speedup)).ToList());
    }

    private static string Method(QuantizationOptions o) =>
        (o.Method == CalibrationMethod.Percentile ? FormattableString.Invariant($"percentile {o.Percentile}") : "minmax") + (o.ReduceRange ? "" : ", 8-bit weights");

    private static void Render(CliContext context, QuantizeReport r)
    {
        static string Ms(double v) => v.ToString(v < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture);
        var table = new Table().Border(TableBorder.Simple).Title($"{Markup.Escape(r.Model)}: fp32 vs int8 (ONNX Runtime)");
        table.AddColumn("").AddColumn(new TableColumn("fp32").RightAligned()).AddColumn(new TableColumn("int8").RightAligned()).AddColumn(new TableColumn("change").RightAligned());
        table.AddRow("accuracy", r.FloatAccuracy.ToString("P2", CultureInfo.InvariantCulture), r.Int8Accuracy.ToString("P2", CultureInfo.InvariantCulture),
            FormattableString.Invariant($"{(r.Int8Accuracy - r.FloatAccuracy) * 100 + 0.0:+0.00;-0.00;0.00} pts")); // + 0.0 turns −0 into 0
        table.AddRow("file bytes", r.FloatBytes.ToString("N0", CultureInfo.InvariantCulture), r.Int8Bytes.ToString("N0", CultureInfo.InvariantCulture),
            FormattableString.Invariant($"{r.SizeRatio:0.00}x smaller"));
        foreach (var l in r.Latency)
            table.AddRow($"p50 ms, batch {l.Batch}", Ms(l.FloatP50Ms), Ms(l.Int8P50Ms), FormattableString.Invariant($"{l.Speedup:0.00}x speed-up"));
        context.Console.Write(table);
        context.Out.WriteLine(FormattableString.Invariant(
            $"wrote {r.Output}; {r.QuantizedNodes} nodes quantized, calibrated on {r.CalibrationImages} images ({r.Method}); top-1 agreement {r.Agreement:P2} on {r.TestImages:N0} {r.Data} test images; {r.Threads} thread{(r.Threads == 1 ? "" : "s")}, ONNX Runtime {r.OnnxRuntime}; speed-up = fp32 p50 / int8 p50"));
    }
}

/// <summary>Latency of the float and int8 models at one batch size, measured interleaved.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="Runs">Timed runs per model.</param>
/// <param name="FloatP50Ms">fp32 median latency, ms.</param>
/// <param name="Int8P50Ms">int8 median latency, ms.</param>
/// <param name="Speedup">fp32 p50 ÷ int8 p50.</param>
public sealed record QuantizeLatency(int Batch, int Runs, double FloatP50Ms, double Int8P50Ms, double Speedup);

/// <summary>Everything <c>quantize</c> reports (its <c>--json</c> output).</summary>
/// <param name="Model">Model name.</param>
/// <param name="Output">The int8 file written.</param>
/// <param name="Data">Dataset name.</param>
/// <param name="Method">Calibration method.</param>
/// <param name="CalibrationImages">Images calibrated on.</param>
/// <param name="QuantizedNodes">Conv, Gemm and Add nodes quantized.</param>
/// <param name="TestImages">Test images evaluated.</param>
/// <param name="FloatAccuracy">fp32 top-1 (ONNX Runtime).</param>
/// <param name="Int8Accuracy">int8 top-1 (ONNX Runtime).</param>
/// <param name="AccuracyDropPoints">fp32 − int8 top-1, in percentage points.</param>
/// <param name="Agreement">Fraction of test images on which both predict the same class.</param>
/// <param name="FloatBytes">fp32 file size (the input file, or the exported graph for a zoo model).</param>
/// <param name="Int8Bytes">int8 file size.</param>
/// <param name="SizeRatio">fp32 bytes ÷ int8 bytes.</param>
/// <param name="Threads">ONNX Runtime intra-op threads.</param>
/// <param name="OnnxRuntime">ONNX Runtime version.</param>
/// <param name="Latency">One row per batch size.</param>
public sealed record QuantizeReport(string Model, string Output, string Data, string Method, int CalibrationImages, int QuantizedNodes,
    long TestImages, double FloatAccuracy, double Int8Accuracy, double AccuracyDropPoints, double Agreement,
    long FloatBytes, long Int8Bytes, double SizeRatio, int Threads, string OnnxRuntime, IReadOnlyList<QuantizeLatency> Latency)
{
    /// <summary>The report: accuracy, size and ORT latency of the fp32 and int8 models.</summary>
    public RunReport ToReport(string command) => new()
    {
        Kind = "quantize (int8)",
        Model = Model,
        Command = command,
        Summary =
        [
            new Measure("ONNX file size", FloatBytes, Int8Bytes, "bytes"),
            .. Latency.Select(l => new Measure($"ORT p50 latency, batch {l.Batch} ({Threads} threads)", l.FloatP50Ms, l.Int8P50Ms, "ms")),
        ],
        Accuracy = [new AccuracyStage("fp32 (ONNX Runtime)", FloatAccuracy), new AccuracyStage("int8 (ONNX Runtime)", Int8Accuracy), new AccuracyStage("same prediction", Agreement)],
        Notes =
        [
            FormattableString.Invariant($"Calibration {Method} on {CalibrationImages} images; {QuantizedNodes} nodes quantized; accuracy on {TestImages} test images of {Data}; ONNX Runtime {OnnxRuntime}."),
            $"Saved {Output}.",
        ],
    };
}
