using System.CommandLine;
using System.Globalization;
using Secateur.Data;
using Secateur.Deployment;
using Secateur.Quantization;
using Secateur.Reporting;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur quantize</c>: int8 post-training quantization to an ONNX QDQ model (the workflow is <see cref="QuantizationPipeline"/>).</summary>
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
        var percentile = new Option<double?>("--percentile") { Description = $"upper percentile for --method percentile, in (50, 100] (default {QuantizationOptions.DefaultPercentile})" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the int8 model (default: <model>.int8.onnx)" };
        var testLimit = new Option<int?>("--test-limit") { Description = "evaluate only the first N test images" };
        var batch = new Option<string>("--batch") { Description = "batch sizes for the latency comparison, comma-separated", DefaultValueFactory = _ => "1,64" };
        var threads = CommonOptions.Threads();
        var runs = new Option<int?>("--runs") { Description = $"timed runs per batch size and model (default {LatencyOptions.DefaultRuns})" };
        var seconds = new Option<double?>("--seconds") { Description = "time budget of the timed runs per batch size" };
        var fullRange = new Option<bool>("--full-range-weights") { Description = "8-bit weights (-127..127) instead of 7-bit: only for CPUs with VNNI, elsewhere ORT's int8 kernels can saturate" };
        var json = CommonOptions.Json();
        var reportFile = new Option<string?>("--report") { Description = "write a report: .html (.md and .json beside it), .md or .json" };
        var preprocess = new PreprocessOptions();
        var cmd = new Command("quantize", "int8 post-training quantization to an ONNX QDQ model; reports float vs int8 accuracy, file size and ONNX Runtime latency")
        {
            model, data, dataDir, images, method, percentile, output, testLimit, batch, threads, runs, seconds, fullRange, json, reportFile,
        };
        preprocess.AddTo(cmd);
        QuantizationRequest Request(ParseResult r, int? n) => new QuantizationRequest
        {
            Options = new QuantizationOptions
            {
                Method = QuantizationOptions.ParseMethod(r.GetValue(method)!), Percentile = r.GetValue(percentile),
                CalibrationImages = r.GetValue(images), ReduceRange = !r.GetValue(fullRange),
            },
            Latency = new LatencyOptions { BatchSizes = CommonOptions.ParseList(r.GetValue(batch)!, "--batch"), Runs = r.GetValue(runs), Seconds = r.GetValue(seconds) },
            Session = CommonOptions.Sessions(n),
        }.Validated();
        // What a recipe step is checked with before any step runs (secateur run): the request, and that there is data.
        context.Checks[cmd.Name] = r =>
        {
            Request(r, CommonOptions.ThreadCount(r, threads));
            if (r.GetValue(data) is null) throw NoData();
        };
        cmd.SetAction(r =>
        {
            var n = CommonOptions.ThreadCount(r, threads);
            CommonOptions.ApplyTorchThreads(n); // calibration runs the float model in libtorch
            var request = Request(r, n);
            var spec = r.GetValue(data) ?? throw NoData();
            var source = r.GetValue(model)!;
            var loaded = preprocess.Load(r, source, spec, r.GetValue(dataDir), null, null, 0, choose: true);
            loaded.Tell(context);
            var (graph, set) = (loaded.Graph, loaded.Data);
            if (r.GetValue(testLimit) is { } limit) set = set with { Test = set.Test.Take(Math.Max(1, limit)) };
            TrainingCliOptions.CheckCompatible(graph, set, context.Error);
            // The int8 model expects exactly the inputs the float model did.
            graph.Preprocessing = set.Preprocessing;
            var target = CommonOptions.NotAnInput(r.GetValue(output) ?? ModelSource.DefaultOutput(source, ".int8.onnx"), source);
            var report = QuantizationPipeline.Run(graph, set, target, request, TrainingView.For(context), ModelSource.InputBytes(source, graph));
            if (r.GetValue(reportFile) is { } reportPath)
                ReportWriter.Write(Reports.From(report, CommonOptions.CommandLine(r)) with { Recipe = context.Recipe }, reportPath);
            if (r.GetValue(json))
            {
                // The library's report plus how the preprocessing was chosen, a CLI matter (added, nothing renamed).
                var node = System.Text.Json.JsonSerializer.SerializeToNode(report, CliContext.Json)!.AsObject();
                node.Insert(0, "verb", "quantize");
                if (loaded.ChoiceJson is { } choice) node["preprocessingChoice"] = System.Text.Json.JsonSerializer.SerializeToNode(choice, CliContext.Json);
                context.WriteJson(node);
            }
            else Render(context, report);
            return 0;
        });
        return cmd;
    }

    private static SecateurException NoData() => new(ErrorCode.BadArgument,
        "quantize needs data to calibrate on and to test with: give --data (e.g. --data fashion-mnist)");

    private static void Render(CliContext context, QuantizeReport r)
    {
        var msFormat = Wording.Format(r.Latency.SelectMany(l => new[] { l.FloatP50Ms, l.Int8P50Ms })); // one precision for every latency
        string Ms(double v) => v.ToString(msFormat, CultureInfo.InvariantCulture);
        var table = new Table().Border(TableBorder.Simple).Title($"{Markup.Escape(r.Model)}: fp32 vs int8 (ONNX Runtime)");
        table.AddColumn("").AddColumn(new TableColumn("fp32").RightAligned()).AddColumn(new TableColumn("int8").RightAligned()).AddColumn(new TableColumn("change").RightAligned());
        table.AddRow("accuracy", r.FloatAccuracy.ToString("P2", CultureInfo.InvariantCulture), r.Int8Accuracy.ToString("P2", CultureInfo.InvariantCulture),
            FormattableString.Invariant($"{(r.Int8Accuracy - r.FloatAccuracy) * 100 + 0.0:+0.00;-0.00;0.00} pts")); // + 0.0 turns −0 into 0
        table.AddRow("file bytes", r.FloatBytes.ToString("N0", CultureInfo.InvariantCulture), r.Int8Bytes.ToString("N0", CultureInfo.InvariantCulture),
            FormattableString.Invariant($"{r.SizeRatio:0.00}x smaller"));
        foreach (var l in r.Latency)
            table.AddRow($"p50 ms, batch {l.Batch}", Ms(l.FloatP50Ms), Ms(l.Int8P50Ms), BenchView.Spread(l.Speedup, l.SpeedupLow, l.SpeedupHigh) + " speed-up");
        context.Console.Write(table);
        context.Out.WriteLine(FormattableString.Invariant(
            $"wrote {r.Output}; {Wording.Count(r.QuantizedNodes, "node")} quantized, calibrated on {Wording.Count(r.CalibrationImages, "image")} ({r.Method}); top-1 agreement {r.Agreement:P2} on {r.TestImages:N0} {r.Data} test {Wording.Noun(r.TestImages, "image")}; {Wording.Count(r.Threads, "thread")}, ONNX Runtime {r.OnnxRuntime}; speed-up = fp32 p50 / int8 p50; preprocessing {(r.Preprocessing is { } p ? Secateur.Graph.InputPreprocessing.Parse(p).Describe() : "-")}"));
    }
}
