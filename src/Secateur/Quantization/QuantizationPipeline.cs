using Secateur.Data;
using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Training;

namespace Secateur.Quantization;

/// <summary>What one int8 quantization run needs: how to calibrate and quantize, how to time, and the ONNX Runtime sessions' settings.</summary>
public sealed record QuantizationRequest
{
    /// <summary>Calibration and quantization settings.</summary>
    public QuantizationOptions Options { get; init; } = new();
    /// <summary>How the float and int8 models are timed (interleaved, per batch size).</summary>
    public LatencyOptions Latency { get; init; } = new() { BatchSizes = [1, 64] };
    /// <summary>ONNX Runtime session settings for evaluation and timing.</summary>
    public SessionSettings Session { get; init; } = new();

    /// <summary>Checks every value; throws <see cref="SecateurException"/> (BadArgument) naming the first invalid one.</summary>
    public QuantizationRequest Validated()
    {
        (Options ?? throw new ArgumentNullException(nameof(Options))).Validated();
        (Latency ?? throw new ArgumentNullException(nameof(Latency))).Validated();
        (Session ?? throw new ArgumentNullException(nameof(Session))).Validated();
        return this;
    }
}

/// <summary>Latency of the float and int8 models at one batch size, measured interleaved.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="Runs">Timed runs per model.</param>
/// <param name="FloatP50Ms">fp32 median latency, ms.</param>
/// <param name="Int8P50Ms">int8 median latency, ms.</param>
public sealed record QuantizeLatency(int Batch, int Runs, double FloatP50Ms, double Int8P50Ms)
{
    /// <summary>fp32 ÷ int8 latency: the median over the measurement's rounds (fp32 p50 ÷ int8 p50 when built without rounds).</summary>
    public double Speedup { get; init; } = FloatP50Ms / Int8P50Ms;

    /// <summary>Lower quartile of the per-round speed-ups.</summary>
    public double SpeedupLow { get; init; } = FloatP50Ms / Int8P50Ms;

    /// <summary>Upper quartile of the per-round speed-ups.</summary>
    public double SpeedupHigh { get; init; } = FloatP50Ms / Int8P50Ms;

    /// <summary>The rounds the speed-up and its spread come from.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>The unambiguous name of <see cref="Speedup"/>, a latency ratio (kept beside it for existing consumers).</summary>
    public double LatencySpeedup => Speedup;
}

/// <summary>What an int8 quantization run produced and measured (also what the CLI prints as JSON).</summary>
/// <param name="Model">Model name.</param>
/// <param name="Output">The int8 file written.</param>
/// <param name="Data">Dataset name.</param>
/// <param name="Method">Calibration method, as text.</param>
/// <param name="CalibrationImages">Images calibrated on.</param>
/// <param name="QuantizedNodes">Conv, Gemm, Add and GlobalAveragePool nodes quantized.</param>
/// <param name="TestImages">Test images evaluated.</param>
/// <param name="FloatAccuracy">fp32 top-1 (ONNX Runtime).</param>
/// <param name="Int8Accuracy">int8 top-1 (ONNX Runtime).</param>
/// <param name="Agreement">Fraction of test images on which both predict the same class.</param>
/// <param name="FloatBytes">fp32 file size (the input file, or the serialised graph).</param>
/// <param name="Int8Bytes">int8 file size.</param>
/// <param name="Threads">ONNX Runtime intra-op threads.</param>
/// <param name="OnnxRuntime">ONNX Runtime version.</param>
/// <param name="Latency">One row per batch size.</param>
public sealed record QuantizeReport(string Model, string Output, string Data, string Method, int CalibrationImages, int QuantizedNodes,
    long TestImages, double FloatAccuracy, double Int8Accuracy, double Agreement, long FloatBytes, long Int8Bytes, int Threads, string OnnxRuntime,
    IReadOnlyList<QuantizeLatency> Latency)
{
    /// <summary>The input preprocessing (compact form) calibration and evaluation fed both models, which the int8 file records.</summary>
    public string? Preprocessing { get; init; }

    /// <summary>fp32 − int8 top-1 as a fraction (0.004 = 0.4 points), the unit of every drop and accuracy in the JSON.</summary>
    public double AccuracyDrop => FloatAccuracy - Int8Accuracy;

    /// <summary>The same drop in percentage points: the older field, kept for existing consumers (prefer <see cref="AccuracyDrop"/>).</summary>
    public double AccuracyDropPoints => AccuracyDrop * 100;

    /// <summary>fp32 bytes ÷ int8 bytes.</summary>
    public double SizeRatio => FloatBytes / (double)Int8Bytes;
}

/// <summary>The int8 workflow as one call: calibrate → quantize → save → evaluate fp32 and int8 with ONNX Runtime → time both interleaved.</summary>
public static class QuantizationPipeline
{
    /// <summary>Quantizes <paramref name="graph"/>, writes the QDQ model to <paramref name="output"/>, and measures it against the float model.</summary>
    /// <param name="graph">The float model.</param>
    /// <param name="data">Calibration (train split) and test data.</param>
    /// <param name="output">Where the int8 ONNX file goes.</param>
    /// <param name="request">What to do.</param>
    /// <param name="progress">Receives a line per stage (null: silent).</param>
    /// <param name="floatBytes">Size of the float model as the user has it (its file); null: the size of <paramref name="graph"/> serialised.</param>
    public static QuantizeReport Run(ModelGraph graph, DataSet data, string output, QuantizationRequest request, IWorkflowProgress? progress = null, long? floatBytes = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(output);
        request = (request ?? throw new ArgumentNullException(nameof(request))).Validated();
        progress ??= WorkflowProgress.Silent;
        var options = request.Options;
        string method = Describe(options);
        progress.Log($"calibrating on {Math.Min(options.CalibrationImages, data.Train.Count):N0} {data.Name} training images ({method})");
        var quantized = Int8Quantizer.Quantize(graph, Int8Quantizer.CalibrationBatches(data, options), options);
        quantized.Save(output);
        var floatOnnx = OnnxSerializer.ToBytes(graph);
        progress.Log($"wrote {output} ({quantized.QuantizedNodes.Count} quantized nodes)");

        using var fp32 = OnnxRuntimeSession.FromBytes(floatOnnx, "fp32", request.Session);
        using var int8 = OnnxRuntimeSession.FromBytes(quantized.Onnx, "int8", request.Session);
        progress.Log($"evaluating fp32 and int8 with ONNX Runtime on {data.Test.Count:N0} test images");
        var f = OnnxRuntimeEvaluation.Evaluate(fp32, data.TestLoader(256));
        var q = OnnxRuntimeEvaluation.Evaluate(int8, data.TestLoader(256));
        progress.Log($"timing fp32 and int8 interleaved at batch {string.Join(", ", request.Latency.BatchSizes)}");
        var times = LatencyBenchmark.Compare(fp32, int8, request.Latency);
        return new QuantizeReport(graph.Name, output, data.Name, method, quantized.CalibrationImages, quantized.QuantizedNodes.Count,
            f.Samples, f.Top1, q.Top1, q.Agreement(f), floatBytes ?? floatOnnx.Length, new FileInfo(output).Length,
            request.Session.EffectiveThreads, OnnxRuntimeSession.RuntimeVersion,
            times.Select(c => new QuantizeLatency(c.Batch, c.A.Runs, c.A.P50Ms, c.B.P50Ms)
                { Speedup = c.Speedup, SpeedupLow = c.SpeedupLow, SpeedupHigh = c.SpeedupHigh, Rounds = c.Rounds }).ToList())
        {
            Preprocessing = data.Preprocessing.ToString(),
        };
    }

    private static string Describe(QuantizationOptions o) =>
        (o.Method == CalibrationMethod.Percentile ? FormattableString.Invariant($"percentile {o.EffectivePercentile}") : "minmax") + (o.ReduceRange ? "" : ", 8-bit weights");
}
