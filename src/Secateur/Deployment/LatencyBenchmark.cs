using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Secateur.Deployment;

/// <summary>How a latency measurement runs.</summary>
public sealed record LatencyOptions
{
    /// <summary>Timed runs per batch size when neither <see cref="Runs"/> nor <see cref="Seconds"/> is given.</summary>
    public const int DefaultRuns = 50;

    /// <summary>Batch sizes to measure, in order.</summary>
    public IReadOnlyList<int> BatchSizes { get; init; } = [1];
    /// <summary>Untimed runs before the timed ones, per batch size (and per model when comparing).</summary>
    public int Warmup { get; init; } = 10;
    /// <summary>Timed runs per batch size (per model when comparing); with <see cref="Seconds"/>, whichever comes first ends the measurement.</summary>
    public int? Runs { get; init; }
    /// <summary>Time budget of the timed runs per batch size (for both models together when comparing).</summary>
    public double? Seconds { get; init; }
    /// <summary>The input shape without the batch (e.g. 3, 224, 224), needed when the model's input has symbolic dimensions besides the batch.</summary>
    public IReadOnlyList<long>? InputShape { get; init; }
    /// <summary>Seed of the random input (uniform in [-1, 1)).</summary>
    public int Seed { get; init; }

    /// <summary>The most timed runs per batch size.</summary>
    public int MaxRuns => Runs ?? (Seconds is null ? DefaultRuns : int.MaxValue);

    /// <summary>Checks the values.</summary>
    public LatencyOptions Validated()
    {
        if (BatchSizes is null || BatchSizes.Count == 0) throw new SecateurException(ErrorCode.BadArgument, "give at least one batch size");
        if (BatchSizes.FirstOrDefault(b => b < 1, 1) is var bad && bad < 1)
            throw new SecateurException(ErrorCode.BadArgument, $"batch sizes must be at least 1 (got {bad})");
        if (Warmup < 0) throw new SecateurException(ErrorCode.BadArgument, $"the warm-up runs must be at least 0 (got {Warmup})", nameof(Warmup));
        if (Runs is { } r && r < 1) throw new SecateurException(ErrorCode.BadArgument, $"the timed runs must be at least 1 (got {r})", nameof(Runs));
        if (Seconds is { } s && !(s > 0)) throw new SecateurException(ErrorCode.BadArgument, $"the measuring time must be a positive number of seconds (got {s})", nameof(Seconds));
        if (InputShape is { } shape && shape.Any(d => d < 1)) throw new SecateurException(ErrorCode.BadArgument, "the input shape's sizes must be positive", ParameterNames.InputShape);
        return this;
    }
}

/// <summary>Latency statistics of one model at one batch size.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="Runs">Timed runs.</param>
/// <param name="P50Ms">Median latency of one batch, milliseconds.</param>
/// <param name="P90Ms">90th-percentile latency, milliseconds.</param>
/// <param name="MeanMs">Mean latency, milliseconds.</param>
/// <param name="MinMs">Fastest run, milliseconds.</param>
/// <param name="MaxMs">Slowest run, milliseconds.</param>
/// <param name="ImagesPerSecond">Throughput: images of all timed runs ÷ their total time (batch ÷ mean latency).</param>
public sealed record LatencyStats(int Batch, int Runs, double P50Ms, double P90Ms, double MeanMs, double MinMs, double MaxMs, double ImagesPerSecond)
{
    /// <summary>Statistics of <paramref name="samplesMs"/> (one latency per run, in milliseconds).</summary>
    public static LatencyStats FromSamples(int batch, IReadOnlyList<double> samplesMs)
    {
        ArgumentNullException.ThrowIfNull(samplesMs);
        if (samplesMs.Count == 0) throw new ArgumentException("no samples", nameof(samplesMs));
        var sorted = samplesMs.Order().ToArray();
        double mean = sorted.Average();
        return new LatencyStats(batch, sorted.Length, Percentile(sorted, 0.5), Percentile(sorted, 0.9), mean, sorted[0], sorted[^1],
            mean > 0 ? batch * 1000.0 / mean : double.PositiveInfinity);
    }

    /// <summary>The <paramref name="q"/> quantile of ascending <paramref name="sorted"/>, interpolating linearly between ranks (NumPy's default).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0) throw new ArgumentException("no samples", nameof(sorted));
        double rank = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}

/// <summary>Two models measured interleaved at one batch size.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="A">The first model (the reference, e.g. dense).</param>
/// <param name="B">The second model (e.g. pruned).</param>
public sealed record LatencyComparison(int Batch, LatencyStats A, LatencyStats B)
{
    /// <summary>Measured speed-up of B over A: A's median latency ÷ B's.</summary>
    public double Speedup => A.P50Ms / B.P50Ms;
}

/// <summary>Where a running measurement is, for progress displays.</summary>
/// <param name="Model">Model being timed (both names when comparing).</param>
/// <param name="Batch">Batch size.</param>
/// <param name="Run">Timed runs done so far (per model).</param>
/// <param name="MaxRuns">Timed runs planned, or null when only a time budget ends the measurement.</param>
/// <param name="Elapsed">Time spent on the timed runs so far.</param>
/// <param name="Budget">The time budget, if any.</param>
public sealed record LatencyProgress(string Model, int Batch, int Run, int? MaxRuns, TimeSpan Elapsed, TimeSpan? Budget);

/// <summary>
/// Measures inference latency with ONNX Runtime: untimed warm-up runs, then timed runs (a count, a time budget,
/// or both) per batch size, reporting median and 90th-percentile latency and throughput. Two models are compared
/// interleaved (A, B, A, B, … one run each per repetition), so that load from other processes hits both alike.
/// </summary>
public static class LatencyBenchmark
{
    /// <summary>Times <paramref name="session"/> at every batch size of <paramref name="options"/>.</summary>
    public static IReadOnlyList<LatencyStats> Measure(OnnxRuntimeSession session, LatencyOptions options, Action<LatencyProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        var results = new List<LatencyStats>();
        foreach (int batch in options.BatchSizes)
        {
            using var input = Input(session, batch, options);
            for (int i = 0; i < options.Warmup; i++) session.RunOnce(input.Value);
            var samples = new List<double>();
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            while (samples.Count < options.MaxRuns && (options.Seconds is not { } s || clock.Elapsed.TotalSeconds < s || samples.Count == 0))
            {
                samples.Add(TimeOne(session, input.Value));
                Report(progress, session.Name, batch, samples.Count, options, clock.Elapsed, ref lastReport);
            }
            results.Add(LatencyStats.FromSamples(batch, samples));
        }
        return results;
    }

    /// <summary>
    /// Times <paramref name="a"/> and <paramref name="b"/> interleaved at every batch size: warm-up runs of both, then
    /// repetitions of one timed run of A and one of B, so that both see the same machine conditions.
    /// </summary>
    /// <exception cref="SecateurException">BadArgument when the two models' inputs differ at a batch size.</exception>
    public static IReadOnlyList<LatencyComparison> Compare(OnnxRuntimeSession a, OnnxRuntimeSession b, LatencyOptions options, Action<LatencyProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        var results = new List<LatencyComparison>();
        string name = $"{a.Name} vs {b.Name}";
        foreach (int batch in options.BatchSizes)
        {
            using var inputA = Input(a, batch, options);
            using var inputB = Input(b, batch, options);
            if (!inputA.Shape.SequenceEqual(inputB.Shape))
                throw new SecateurException(ErrorCode.BadArgument,
                    $"the models take different inputs ({a.Name}: {string.Join('x', inputA.Shape)}, {b.Name}: {string.Join('x', inputB.Shape)}); they cannot be compared");
            for (int i = 0; i < options.Warmup; i++)
            {
                a.RunOnce(inputA.Value);
                b.RunOnce(inputB.Value);
            }
            var samplesA = new List<double>();
            var samplesB = new List<double>();
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            while (samplesA.Count < options.MaxRuns && (options.Seconds is not { } s || clock.Elapsed.TotalSeconds < s || samplesA.Count == 0))
            {
                samplesA.Add(TimeOne(a, inputA.Value));
                samplesB.Add(TimeOne(b, inputB.Value));
                Report(progress, name, batch, samplesA.Count, options, clock.Elapsed, ref lastReport);
            }
            results.Add(new LatencyComparison(batch, LatencyStats.FromSamples(batch, samplesA), LatencyStats.FromSamples(batch, samplesB)));
        }
        return results;
    }

    private static double TimeOne(OnnxRuntimeSession session, OrtValue input)
    {
        long start = Stopwatch.GetTimestamp();
        session.RunOnce(input);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static void Report(Action<LatencyProgress>? progress, string model, int batch, int runs, LatencyOptions options, TimeSpan elapsed, ref TimeSpan last)
    {
        // At most about four reports a second, plus the last one: progress must not cost measurable time.
        bool done = runs >= options.MaxRuns || (options.Seconds is { } s && elapsed.TotalSeconds >= s);
        if (progress is null || (!done && elapsed - last < TimeSpan.FromMilliseconds(250))) return;
        last = elapsed;
        progress(new LatencyProgress(model, batch, runs, options.Runs, elapsed, options.Seconds is { } sec ? TimeSpan.FromSeconds(sec) : null));
    }

    /// <summary>A random input for <paramref name="session"/> at <paramref name="batch"/>, with the array ORT reads from kept alive beside it.</summary>
    private static BenchInput Input(OnnxRuntimeSession session, int batch, LatencyOptions options)
    {
        var shape = session.InputShape(batch, options.InputShape);
        var data = new float[Graph.TensorData.ElementCount(shape)];
        var random = new Random(options.Seed);
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        return new BenchInput(data, shape, OnnxRuntimeSession.CreateInput(data, shape));
    }

    private sealed record BenchInput(float[] Data, long[] Shape, OrtValue Value) : IDisposable
    {
        public void Dispose() => Value.Dispose();
    }
}
