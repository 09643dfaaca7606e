using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Secateur.Deployment;

/// <summary>How a latency measurement runs.</summary>
public sealed record LatencyOptions
{
    /// <summary>Timed runs per batch size when neither <see cref="Runs"/> nor <see cref="Seconds"/> is given.</summary>
    public const int DefaultRuns = 50;

    /// <summary>The default of <see cref="Rounds"/>: odd, so that the median speed-up is one round's.</summary>
    public const int DefaultRounds = 5;

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
    /// <summary>
    /// Rounds a comparison splits each model's timed runs into (ignored by a single model's measurement). Each round
    /// times a block of A, two blocks of B and a block of A (ABBA), and gives one speed-up; the comparison reports
    /// their median and spread (<see cref="LatencyComparison.Speedup"/>). With <see cref="Runs"/> and no
    /// <see cref="Seconds"/> there are at most <c>Runs / 2</c> rounds; with <see cref="Seconds"/>, blocks are sized so
    /// that this many rounds fill the time budget, and rounds go on until it is spent.
    /// </summary>
    public int Rounds { get; init; } = DefaultRounds;

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
        if (Rounds < 1) throw new SecateurException(ErrorCode.BadArgument, $"a comparison needs at least 1 round (got {Rounds})", nameof(Rounds));
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

/// <summary>
/// Two models measured at one batch size in rounds: each round times a block of runs of A, two blocks of B and a
/// block of A (ABBA, so that a steady drift of the machine's speed during the round hits both alike) and gives one
/// speed-up, A's median latency in the round ÷ B's. <see cref="Speedup"/> is the median of the rounds' speed-ups and
/// <see cref="SpeedupLow"/>–<see cref="SpeedupHigh"/> their interquartile range, the spread to print beside it.
/// </summary>
/// <param name="Batch">Batch size.</param>
/// <param name="A">The first model (the reference, e.g. dense): statistics of all its timed runs, every round pooled.</param>
/// <param name="B">The second model (e.g. pruned): statistics of all its timed runs, every round pooled.</param>
public sealed record LatencyComparison(int Batch, LatencyStats A, LatencyStats B)
{
    /// <summary>
    /// Each round's speed-up (A's median latency in the round ÷ B's), in the order the rounds ran. Empty for a
    /// comparison built from two <see cref="LatencyStats"/> alone; then the speed-up is A's median ÷ B's.
    /// </summary>
    public IReadOnlyList<double> RoundSpeedups { get; init; } = [];

    /// <summary>How many rounds the speed-up is the median of (0 when <see cref="RoundSpeedups"/> is empty).</summary>
    public int Rounds => RoundSpeedups.Count;

    /// <summary>
    /// Measured speed-up of B over A (A's latency ÷ B's; above 1, B is faster): the median of
    /// <see cref="RoundSpeedups"/>, or A's median latency ÷ B's when there are no rounds. The rounds' quantiles are
    /// taken on a log scale, so that swapping A and B inverts this and the spread exactly.
    /// </summary>
    public double Speedup => RoundQuantile(0.5);

    /// <summary>The lower quartile of <see cref="RoundSpeedups"/> (a quarter of the rounds measured less), or <see cref="Speedup"/> when there are no rounds.</summary>
    public double SpeedupLow => RoundQuantile(0.25);

    /// <summary>The upper quartile of <see cref="RoundSpeedups"/> (a quarter of the rounds measured more), or <see cref="Speedup"/> when there are no rounds.</summary>
    public double SpeedupHigh => RoundQuantile(0.75);

    /// <summary>
    /// The comparison of timed runs grouped by round: <paramref name="roundsA"/>[r] and <paramref name="roundsB"/>[r]
    /// are the latencies (milliseconds) of A's and B's runs in round r. Each round's speed-up is the ratio of their
    /// medians; <see cref="A"/> and <see cref="B"/> pool every round's runs.
    /// </summary>
    /// <exception cref="ArgumentException">When the two lists have different numbers of rounds, none, or a round without runs.</exception>
    public static LatencyComparison FromRounds(int batch, IReadOnlyList<IReadOnlyList<double>> roundsA, IReadOnlyList<IReadOnlyList<double>> roundsB)
    {
        ArgumentNullException.ThrowIfNull(roundsA);
        ArgumentNullException.ThrowIfNull(roundsB);
        if (roundsA.Count == 0 || roundsA.Count != roundsB.Count)
            throw new ArgumentException($"need the same positive number of rounds for both models (got {roundsA.Count} and {roundsB.Count})", nameof(roundsB));
        var ratios = new double[roundsA.Count];
        for (int r = 0; r < ratios.Length; r++)
        {
            if (roundsA[r] is not { Count: > 0 } ra || roundsB[r] is not { Count: > 0 } rb) throw new ArgumentException($"round {r} has no runs of one model", nameof(roundsA));
            ratios[r] = Median(ra) / Median(rb);
        }
        return new LatencyComparison(batch, LatencyStats.FromSamples(batch, roundsA.SelectMany(x => x).ToList()),
            LatencyStats.FromSamples(batch, roundsB.SelectMany(x => x).ToList())) { RoundSpeedups = ratios };
    }

    private double RoundQuantile(double q)
    {
        if (RoundSpeedups.Count == 0) return A.P50Ms / B.P50Ms;
        // On logs: the quantiles of B-over-A are then exactly the inverses of A-over-B's, also between two ranks.
        var logs = RoundSpeedups.Select(r => Math.Log(r)).Order().ToArray();
        return Math.Exp(LatencyStats.Percentile(logs, q));
    }

    private static double Median(IReadOnlyList<double> samples) => LatencyStats.Percentile(samples.Order().ToArray(), 0.5);
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
/// in rounds of alternating blocks of runs (see <see cref="Compare"/>), so that load from other processes hits both alike.
/// </summary>
/// <remarks>
/// Why comparisons are set up as they are (issue 18; ResNet-20 at 1×28×28 against itself on the 2-core machine,
/// 2 threads, measured with a throwaway probe while other jobs kept the load average at 9–22). ONNX Runtime's
/// intra-op worker threads spin for new work after a run returns: an idle session's worker kept 0.6–1.0 of a core
/// busy in the 3–30 ms after its run (0.00–0.02 with <c>session.force_spinning_stop</c>). Timing two such sessions
/// in turn puts three busy threads on two cores: one run of each in turn at batch 32, each model took 23 ms a run
/// (median), slower than with one thread (17.6 ms), where sleeping workers gave 9.4–9.6 ms; at batch 1 the same file
/// read 0.57–1.72× against itself over 20 probe runs. With sleeping workers the stolen core is gone, but one figure
/// per run still varied under that load (median 1.00, a few runs 0.6 or 1.5): hence rounds, whose spread shows it.
/// Workers that never spin (<c>session.intra_op.allow_spinning</c> 0) also removed the stolen core but made a lone
/// batch-1 run 4–16 % slower, since every operator then wakes them; one global thread pool for the process
/// (<c>DisablePerSessionThreads</c>) was the steadiest (0.98–1.02× in all 20 runs) but fixes one thread count for
/// every session of the process. So sessions sleep between runs
/// (<see cref="SessionSettings.SpinBetweenRuns"/> false). Alternating single runs also make every run follow the
/// other model's, with the caches it left; blocks of runs whose first run is untimed time what a model running back
/// to back does (as <see cref="Measure"/> does), and repeating ABBA rounds turns the machine's own noise into a
/// spread instead of a biased figure.
/// </remarks>
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
                bool done = samples.Count >= options.MaxRuns || (options.Seconds is { } sec && clock.Elapsed.TotalSeconds >= sec);
                Report(progress, session.Name, batch, samples.Count, options, clock.Elapsed, done, ref lastReport);
            }
            results.Add(LatencyStats.FromSamples(batch, samples));
        }
        return results;
    }

    /// <summary>
    /// Times <paramref name="a"/> and <paramref name="b"/> at every batch size: <see cref="LatencyOptions.Warmup"/>
    /// untimed runs of each, then rounds of four blocks, A B B A. Each block starts with one untimed run (the other
    /// model has just run) followed by its timed runs; each round gives one speed-up (<see cref="LatencyComparison"/>).
    /// <see cref="LatencyOptions.Runs"/> timed runs per model are spread evenly over <see cref="LatencyOptions.Rounds"/>
    /// rounds; with <see cref="LatencyOptions.Seconds"/>, blocks are sized from one calibration run of each model so
    /// that the rounds fill the budget, and the measurement ends at the first round boundary after the budget or
    /// the runs are spent.
    /// </summary>
    /// <exception cref="SecateurException">BadArgument when the two models' inputs differ at a batch size, or when a
    /// session has more than one thread and was opened with <see cref="SessionSettings.SpinBetweenRuns"/> (its idle
    /// workers would take a core from the other model's runs, biasing the comparison).</exception>
    public static IReadOnlyList<LatencyComparison> Compare(OnnxRuntimeSession a, OnnxRuntimeSession b, LatencyOptions options, Action<LatencyProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        foreach (var session in new[] { a, b })
            if (session.Settings.SpinBetweenRuns && session.Settings.EffectiveThreads > 1)
                throw new SecateurException(ErrorCode.BadArgument,
                    $"'{session.Name}' was opened with {session.Settings.EffectiveThreads} threads that spin between runs; its idle threads would slow the other model's runs. Compare sessions whose threads sleep between runs (the default)",
                    nameof(SessionSettings.SpinBetweenRuns));
        var results = new List<LatencyComparison>();
        string name = $"{a.Name} vs {b.Name}";
        foreach (int batch in options.BatchSizes)
        {
            using var inputA = Input(a, batch, options);
            using var inputB = Input(b, batch, options);
            if (!inputA.Shape.SequenceEqual(inputB.Shape))
                throw new SecateurException(ErrorCode.BadArgument,
                    $"the models take different inputs ({a.Name}: {string.Join('x', inputA.Shape)}, {b.Name}: {string.Join('x', inputB.Shape)}); they cannot be compared");
            for (int i = 0; i < options.Warmup; i++) a.RunOnce(inputA.Value);
            for (int i = 0; i < options.Warmup; i++) b.RunOnce(inputB.Value);
            var plan = new RoundPlan(options, options.Seconds is null ? 0 : TimeOne(a, inputA.Value) + TimeOne(b, inputB.Value));
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            results.Add(RunRounds(batch, plan, () => TimeOne(a, inputA.Value), () => TimeOne(b, inputB.Value), () => clock.Elapsed,
                (timed, done) => Report(progress, name, batch, timed, options, clock.Elapsed, done, ref lastReport)));
        }
        return results;
    }

    /// <summary>
    /// Runs the rounds <paramref name="plan"/> sets out, A B B A each, and groups the timed runs by round. Each
    /// block's first run is untimed (its latency is dropped): the other model has just run, leaving this one's
    /// caches and threads cold, which a model running back to back (what <see cref="Measure"/> times) does not see.
    /// </summary>
    /// <param name="batch">Batch size, for the result.</param>
    /// <param name="plan">The rounds' block sizes.</param>
    /// <param name="runA">Runs A once; returns its latency in milliseconds.</param>
    /// <param name="runB">Runs B once; returns its latency in milliseconds.</param>
    /// <param name="elapsed">Time since the timed runs began (for a time budget).</param>
    /// <param name="report">Told the timed runs per model so far, and whether the measurement is over.</param>
    internal static LatencyComparison RunRounds(int batch, RoundPlan plan, Func<double> runA, Func<double> runB, Func<TimeSpan> elapsed, Action<int, bool>? report)
    {
        var roundsA = new List<IReadOnlyList<double>>();
        var roundsB = new List<IReadOnlyList<double>>();
        int timed = 0;
        while (plan.Next(roundsA.Count, timed, elapsed()) is var (first, second) && first > 0)
        {
            var ra = new List<double>(first + second);
            var rb = new List<double>(first + second);
            Block(runA, first, ra);
            Block(runB, first, rb);
            report?.Invoke(timed + first, false);
            Block(runB, second, rb);
            Block(runA, second, ra);
            roundsA.Add(ra);
            roundsB.Add(rb);
            timed += first + second;
            report?.Invoke(timed, false);
        }
        report?.Invoke(timed, true);
        return LatencyComparison.FromRounds(batch, roundsA, roundsB);
    }

    private static void Block(Func<double> run, int runs, List<double> samples)
    {
        if (runs == 0) return;
        run();
        for (int i = 0; i < runs; i++) samples.Add(run());
    }

    /// <summary>
    /// How many timed runs each half of the next ABBA round has. With a run count and no time budget the runs are
    /// spread over the rounds up front (so that exactly <see cref="LatencyOptions.Runs"/> are timed); with a budget,
    /// every block has the size that makes <see cref="LatencyOptions.Rounds"/> rounds fill it (or spread the run
    /// count, if also given and smaller), and rounds go on until the budget or the run count is spent.
    /// </summary>
    internal sealed class RoundPlan
    {
        private readonly int? _total;
        private readonly int _rounds;
        private readonly int _block;
        private readonly double? _seconds;

        /// <param name="options">Validated options.</param>
        /// <param name="pairMs">One run of A plus one of B, milliseconds (only read when there is a time budget).</param>
        internal RoundPlan(LatencyOptions options, double pairMs)
        {
            _seconds = options.Seconds;
            _total = options.Runs ?? (options.Seconds is null ? LatencyOptions.DefaultRuns : null);
            if (_seconds is { } s)
            {
                // A round runs each model in two blocks of (block + 1) runs: 2 (block + 1) pairs.
                double roundMs = s * 1000 / options.Rounds;
                _block = Math.Max(1, (int)Math.Min(int.MaxValue / 4, Math.Floor(roundMs / (2 * Math.Max(pairMs, 1e-6))) - 1));
                // A run count as well: its runs still spread over the rounds, not one big round.
                if (_total is { } t) _block = Math.Min(_block, Math.Max(1, t / (2 * options.Rounds)));
            }
            else
                _rounds = Math.Min(options.Rounds, Math.Max(1, _total!.Value / 2));
        }

        /// <summary>The two halves' sizes of round <paramref name="round"/> after <paramref name="timed"/> timed runs per model and <paramref name="elapsed"/>; (0, 0) when the measurement is over.</summary>
        internal (int First, int Second) Next(int round, int timed, TimeSpan elapsed)
        {
            if (_seconds is { } s)
            {
                if (round > 0 && elapsed.TotalSeconds >= s) return (0, 0);
                int left = _total is { } t ? t - timed : int.MaxValue;
                if (left <= 0) return (0, 0);
                int n = Math.Min(2 * _block, left);
                return (n - n / 2, n / 2);
            }
            if (round >= _rounds) return (0, 0);
            // The runs fill 2 × rounds block slots; the first (total mod slots) slots take one run more.
            int slots = 2 * _rounds, size = _total!.Value / slots, extra = _total.Value % slots;
            int Slot(int i) => size + (i < extra ? 1 : 0);
            return (Slot(2 * round), Slot(2 * round + 1));
        }
    }

    private static double TimeOne(OnnxRuntimeSession session, OrtValue input)
    {
        long start = Stopwatch.GetTimestamp();
        session.RunOnce(input);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static void Report(Action<LatencyProgress>? progress, string model, int batch, int runs, LatencyOptions options, TimeSpan elapsed, bool done, ref TimeSpan last)
    {
        // At most about four reports a second, plus the last one: progress must not cost measurable time.
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
