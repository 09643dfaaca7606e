using System.Globalization;
using System.Text.Json.Serialization;
using Secateur.Deployment;
using Secateur.Graph;

namespace Secateur.Pruning;

/// <summary>A latency target: the median time of one batch under ONNX Runtime on this machine.</summary>
/// <param name="Milliseconds">Median (p50) latency to reach at most.</param>
/// <param name="Batch">Batch size the latency is measured at.</param>
/// <param name="Threads">ONNX Runtime intra-op threads (0: one per core).</param>
/// <param name="Warmup">Untimed runs per candidate.</param>
/// <param name="Runs">Timed runs per candidate (kept short: every bisection step measures one).</param>
public sealed record LatencyBudget(double Milliseconds, int Batch = 1, int Threads = 0, int Warmup = 5, int Runs = 30)
{
    /// <summary>
    /// What times the candidates: <see langword="null"/> (the default) runs each one under ONNX Runtime on this machine
    /// (<see cref="OnnxRuntimeLatencyMeasurer"/>); a cost model or a test's deterministic fake can stand in for it.
    /// </summary>
    /// <remarks>Not part of the reported budget: it is how the budget is checked, not what it is.</remarks>
    [JsonIgnore]
    public ILatencyMeasurer? Measurer { get; init; }

    /// <summary>Checks the values.</summary>
    public LatencyBudget Validated()
    {
        if (!(Milliseconds > 0) || double.IsInfinity(Milliseconds)) throw new SecateurException(ErrorCode.BadArgument, $"the latency target must be a positive number of milliseconds (got {Milliseconds})", nameof(Milliseconds));
        if (Batch < 1) throw new SecateurException(ErrorCode.BadArgument, $"the latency batch size must be at least 1 (got {Batch})", nameof(Batch));
        if (Threads < 0) throw new SecateurException(ErrorCode.BadArgument, $"the thread count must be at least 0, where 0 means one per core (got {Threads})", nameof(Threads));
        if (Warmup < 0 || Runs < 1) throw new SecateurException(ErrorCode.BadArgument, $"a latency measurement needs at least one timed run (got {Runs}) and no negative warm-up");
        return this;
    }

    /// <summary>Human-readable form.</summary>
    public override string ToString()
    {
        int threads = Threads > 0 ? Threads : Environment.ProcessorCount;
        return string.Create(CultureInfo.InvariantCulture, $"p50 latency at most {Milliseconds:0.###} ms (batch {Batch}, {threads} thread{(threads == 1 ? "" : "s")})");
    }
}

/// <summary>Times candidate models for <see cref="LatencySearch"/> (set through <see cref="LatencyBudget.Measurer"/>).</summary>
/// <remarks>
/// The search only needs a number per candidate and one final side-by-side figure, so its bisection logic does not
/// depend on ONNX Runtime or on how loaded the machine is; implementations should be monotone in model size for the
/// search to be meaningful, but the search itself never assumes more than "within the budget or not".
/// </remarks>
public interface ILatencyMeasurer
{
    /// <summary>The median latency, in milliseconds, of one batch of <paramref name="graph"/> measured as <paramref name="budget"/> says.</summary>
    double MedianMs(ModelGraph graph, LatencyBudget budget);

    /// <summary>
    /// Measures <paramref name="dense"/> and <paramref name="pruned"/> under the same conditions (interleaved, for a real
    /// measurer) and returns both: <see cref="LatencyComparison.A"/> is the dense model, <see cref="LatencyComparison.B"/> the pruned one.
    /// </summary>
    LatencyComparison Compare(ModelGraph dense, ModelGraph pruned, LatencyBudget budget);
}

/// <summary>The default <see cref="ILatencyMeasurer"/>: exports the graph to ONNX and times it with ONNX Runtime on this machine.</summary>
public sealed class OnnxRuntimeLatencyMeasurer : ILatencyMeasurer
{
    /// <summary>The shared instance (it holds no state).</summary>
    public static OnnxRuntimeLatencyMeasurer Instance { get; } = new();

    /// <inheritdoc/>
    public double MedianMs(ModelGraph graph, LatencyBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        using var session = OnnxRuntimeSession.FromGraph(graph, new SessionSettings(budget.Threads));
        return LatencyBenchmark.Measure(session, Options(budget)).Single().P50Ms;
    }

    /// <inheritdoc/>
    public LatencyComparison Compare(ModelGraph dense, ModelGraph pruned, LatencyBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var settings = new SessionSettings(budget.Threads);
        using var a = OnnxRuntimeSession.FromGraph(dense, settings);
        using var b = OnnxRuntimeSession.FromGraph(pruned, settings);
        return LatencyBenchmark.Compare(a, b, Options(budget)).Single();
    }

    private static LatencyOptions Options(LatencyBudget budget) =>
        new() { BatchSizes = [budget.Batch], Warmup = budget.Warmup, Runs = budget.Runs };
}

/// <summary>One candidate the latency search measured.</summary>
/// <param name="RemovedFraction">Fraction of the prunable channels removed.</param>
/// <param name="Macs">MACs of the candidate.</param>
/// <param name="P50Ms">Its measured median latency.</param>
/// <param name="Met">Whether it met the budget.</param>
public sealed record LatencyCandidate(double RemovedFraction, long Macs, double P50Ms, bool Met);

/// <summary>What a latency-target search found.</summary>
/// <param name="Budget">The target.</param>
/// <param name="DenseMs">Median latency of the unpruned model, re-measured interleaved with the chosen one.</param>
/// <param name="PrunedMs">Median latency of the chosen model in that re-measurement.</param>
/// <param name="DenseP90Ms">90th percentile of the unpruned model in that re-measurement.</param>
/// <param name="PrunedP90Ms">90th percentile of the chosen model in that re-measurement.</param>
/// <param name="Candidates">Every distinct candidate measured during the search, in order.</param>
public sealed record LatencySearchResult(LatencyBudget Budget, double DenseMs, double PrunedMs, double DenseP90Ms, double PrunedP90Ms, IReadOnlyList<LatencyCandidate> Candidates)
{
    /// <summary>Measured speed-up: the median over the re-measurement's rounds of dense ÷ pruned (dense p50 ÷ pruned p50 when built without rounds).</summary>
    public double Speedup { get; init; } = DenseMs / PrunedMs;

    /// <summary>Lower quartile of the per-round speed-ups (equal to <see cref="Speedup"/> without rounds).</summary>
    public double SpeedupLow { get; init; } = DenseMs / PrunedMs;

    /// <summary>Upper quartile of the per-round speed-ups (equal to <see cref="Speedup"/> without rounds).</summary>
    public double SpeedupHigh { get; init; } = DenseMs / PrunedMs;

    /// <summary>Dense p50 ÷ pruned p50: the unambiguous name of <see cref="Speedup"/> in JSON, beside the MACs ratio.</summary>
    public double LatencySpeedup => Speedup;

    /// <summary>Whether the re-measured pruned latency is within the budget (it can miss it by noise after the search met it).</summary>
    public bool WithinBudget => PrunedMs <= Budget.Milliseconds;
}

/// <summary>
/// Searches the allocation level (uniform ratio, global threshold or sensitivity threshold) for the least pruning
/// whose model runs within a latency budget: each candidate plan is applied and timed by the budget's
/// <see cref="LatencyBudget.Measurer"/> (by default exported to ONNX and timed with ONNX Runtime). Bisection as for
/// the other targets, but on measurements, so it takes few steps and measures each distinct candidate once; the
/// dense model is measured first and kept when it already meets the budget.
/// </summary>
public static class LatencySearch
{
    /// <summary>Bisection steps after the two ends are measured (the level's resolution is its range ÷ 2^steps).</summary>
    public const int Steps = 10;

    /// <summary>Runs the search.</summary>
    /// <param name="dependencies">Dependency graph of the unpruned model.</param>
    /// <param name="groups">Groups that may be pruned.</param>
    /// <param name="countsAt">Channels removed per group at an allocation level (monotone in the level).</param>
    /// <param name="top">The level of the most pruning allowed.</param>
    /// <param name="build">Applies removal counts: the candidate graph.</param>
    /// <param name="counter">Shape-only counter, for candidates' MACs.</param>
    /// <param name="budget">The latency target.</param>
    /// <param name="options">Allocation constraints (for the error message).</param>
    /// <param name="log">Receives one line per measurement.</param>
    /// <returns>The removal counts chosen and the measurements.</returns>
    /// <exception cref="SecateurException">ImpossibleTarget when even the most pruning allowed is too slow.</exception>
    internal static (Dictionary<PruningGroup, long> Counts, LatencySearchResult Result) Run(DependencyGraph dependencies, IReadOnlyCollection<PruningGroup> groups,
        Func<double, Dictionary<PruningGroup, long>> countsAt, double top, Func<Dictionary<PruningGroup, long>, ModelGraph> build, PlanCounter counter,
        LatencyBudget budget, AllocationOptions options, Action<string>? log)
    {
        budget = budget.Validated();
        var measurer = budget.Measurer ?? OnnxRuntimeLatencyMeasurer.Instance;
        long total = groups.Sum(g => g.Channels);
        var candidates = new List<LatencyCandidate>();
        var cache = new Dictionary<string, (double Ms, ModelGraph Graph)>(StringComparer.Ordinal);
        string Key(Dictionary<PruningGroup, long> counts) => string.Join(',', groups.Select(g => counts[g]));

        (double Ms, ModelGraph Graph) Measure(Dictionary<PruningGroup, long> counts)
        {
            var key = Key(counts);
            if (cache.TryGetValue(key, out var known)) return known;
            var graph = counts.Values.All(c => c == 0) ? dependencies.Graph : build(counts);
            double ms = measurer.MedianMs(graph, budget);
            double removed = counts.Values.Sum() / (double)Math.Max(1, total);
            long macs = counter.Count(counts).Macs;
            bool met = ms <= budget.Milliseconds;
            candidates.Add(new LatencyCandidate(removed, macs, ms, met));
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"latency search: {removed:P1} of prunable channels removed, {macs:N0} MACs: p50 {ms:0.###} ms {(met ? "<=" : ">")} {budget.Milliseconds:0.###} ms"));
            cache[key] = (ms, graph);
            return (ms, graph);
        }

        var none = groups.ToDictionary(g => g, _ => 0L);
        var dense = Measure(none);
        Dictionary<PruningGroup, long> chosen;
        if (dense.Ms <= budget.Milliseconds)
            chosen = none;
        else
        {
            var most = countsAt(top);
            var fastest = Measure(most);
            if (fastest.Ms > budget.Milliseconds)
            {
                var (p, m) = counter.Count(most);
                throw new SecateurException(ErrorCode.ImpossibleTarget, string.Create(CultureInfo.InvariantCulture,
                    $"the target ({budget}) cannot be met: the dense model measures {dense.Ms:0.###} ms and pruning every group to its limit (keeping {1 - options.MaxGroupRatio:P0} of each, multiples of {options.RoundTo}; {p:N0} params, {m:N0} MACs) still measures {fastest.Ms:0.###} ms"));
            }
            double lo = 0, hi = top;
            for (int i = 0; i < Steps; i++)
            {
                double mid = (lo + hi) / 2;
                if (Measure(countsAt(mid)).Ms <= budget.Milliseconds) hi = mid; else lo = mid;
            }
            chosen = countsAt(hi);
        }

        // Re-measure the choice interleaved with the dense model: one figure each under the same conditions.
        var final = measurer.Compare(dependencies.Graph, Measure(chosen).Graph, budget);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"latency search: re-measured in ABBA rounds, dense p50 {final.A.P50Ms:0.###} ms, pruned p50 {final.B.P50Ms:0.###} ms ({final.Speedup:0.00}x, rounds {final.SpeedupLow:0.00}-{final.SpeedupHigh:0.00})"));
        var result = new LatencySearchResult(budget, final.A.P50Ms, final.B.P50Ms, final.A.P90Ms, final.B.P90Ms, candidates);
        if (final.Rounds > 0) result = result with { Speedup = final.Speedup, SpeedupLow = final.SpeedupLow, SpeedupHigh = final.SpeedupHigh };
        return (chosen, result);
    }
}
