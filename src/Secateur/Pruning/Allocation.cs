namespace Secateur.Pruning;

/// <summary>How much to prune: exactly one of a channel ratio, a MACs speed-up, a MACs budget, a parameter budget, a measured latency budget or an importance threshold.</summary>
public sealed record PruningTarget
{
    /// <summary>Fraction of each group's channels (uniform) or of all prunable channels (global) to remove.</summary>
    public double? Ratio { get; init; }
    /// <summary>Base MACs ÷ pruned MACs to reach at least.</summary>
    public double? Speedup { get; init; }
    /// <summary>MACs budget to reach at most.</summary>
    public long? Macs { get; init; }
    /// <summary>Parameter budget to reach at most.</summary>
    public long? Params { get; init; }
    /// <summary>
    /// Median ONNX Runtime latency to reach at most, measured on this machine: each candidate is exported to ONNX
    /// and timed (see <see cref="LatencySearch"/>).
    /// </summary>
    public LatencyBudget? Latency { get; init; }
    /// <summary>
    /// Preset threshold, in (0, 1): every channel whose importance, divided by the sum over its group (or, with
    /// <see cref="AllocationKind.Global"/>, over all groups), is below it is removed, within the per-group maximum.
    /// The amount removed follows from the scores rather than from a budget.
    /// </summary>
    public double? Threshold { get; init; }

    /// <summary>Checks that exactly one target is set and in range.</summary>
    public PruningTarget Validated()
    {
        int set = (Ratio.HasValue ? 1 : 0) + (Speedup.HasValue ? 1 : 0) + (Macs.HasValue ? 1 : 0) + (Params.HasValue ? 1 : 0) + (Latency is null ? 0 : 1) + (Threshold.HasValue ? 1 : 0);
        if (set != 1) throw new SecateurException(ErrorCode.BadArgument, "give exactly one target: a channel ratio, a speed-up, a MACs or parameter budget, a latency or an importance threshold", nameof(PruningOptions.Target));
        Latency?.Validated();
        if (Threshold is { } t && !(t is > 0 and < 1))
            throw new SecateurException(ErrorCode.BadArgument, $"the importance threshold must be in (0, 1) (got {t})", nameof(Threshold));
        if (Ratio is { } r && r is < 0 or >= 1) throw new SecateurException(ErrorCode.BadArgument, $"the channel ratio must be in [0, 1) (got {r})", nameof(Ratio));
        if (Speedup is { } s && s < 1) throw new SecateurException(ErrorCode.BadArgument, $"the speed-up must be at least 1 (got {s})", nameof(Speedup));
        if (Macs is { } m && m < 1) throw new SecateurException(ErrorCode.BadArgument, $"the MACs budget must be positive (got {m})", nameof(Macs));
        if (Params is { } p && p < 1) throw new SecateurException(ErrorCode.BadArgument, $"the parameter budget must be positive (got {p})", nameof(Params));
        return this;
    }

    /// <summary>Human-readable form, e.g. "2× fewer MACs".</summary>
    public override string ToString() => Ratio is { } r ? $"channel ratio {r:0.###}" : Speedup is { } s ? $"{s:0.##}x fewer MACs"
        : Macs is { } m ? $"at most {m:N0} MACs" : Params is { } p ? $"at most {p:N0} parameters"
        : Threshold is { } t ? $"importance share below {t:0.####}" : Latency!.ToString();
}

/// <summary>How the channel budget is spread over groups.</summary>
public enum AllocationKind
{
    /// <summary>The same fraction of every prunable group.</summary>
    Uniform,
    /// <summary>One ranking of all channels by normalised importance, with a per-group maximum.</summary>
    Global,
    /// <summary>
    /// From a sensitivity analysis: every group is pruned as far as it stays within one common accuracy-drop
    /// threshold (interpolating its measured curve), and the threshold is searched until the target is met.
    /// </summary>
    Sensitivity,
}

/// <summary>Constraints on any allocation.</summary>
/// <param name="Kind">Uniform or global.</param>
/// <param name="RoundTo">Keep every pruned group's channel count a multiple of this; a group of exactly this many is left whole, a smaller one is pruned freely.</param>
/// <param name="MaxGroupRatio">No group loses more than this fraction of its channels.</param>
public sealed record AllocationOptions(AllocationKind Kind = AllocationKind.Uniform, int RoundTo = 1, double MaxGroupRatio = 0.9)
{
    /// <summary>Checks the values.</summary>
    public AllocationOptions Validated()
    {
        if (RoundTo < 1) throw new SecateurException(ErrorCode.BadArgument, $"the channel rounding multiple must be at least 1 (got {RoundTo})", nameof(RoundTo));
        if (MaxGroupRatio is <= 0 or >= 1) throw new SecateurException(ErrorCode.BadArgument, $"the per-layer maximum ratio must be in (0, 1) (got {MaxGroupRatio})", nameof(MaxGroupRatio));
        return this;
    }
}

/// <summary>
/// Turns importance scores and a target into a <see cref="PruningPlan"/>: how many channels each group loses
/// (uniformly or by global ranking, searched by bisection until the target is met), and which — the lowest-scored.
/// </summary>
public static class Allocation
{
    /// <summary>Plans the pruning of <paramref name="groups"/> (a subset of the prunable groups) to meet <paramref name="target"/>.</summary>
    /// <param name="dependencies">The dependency graph.</param>
    /// <param name="groups">Groups that may be pruned.</param>
    /// <param name="scores">Importance per channel of each group.</param>
    /// <param name="target">The target.</param>
    /// <param name="options">Allocation kind and constraints.</param>
    /// <param name="sensitivity">For <see cref="AllocationKind.Sensitivity"/>: measured (ratio, accuracy drop) points per group name.</param>
    /// <param name="log">Receives a line per latency measurement (latency targets only).</param>
    public static PruningPlan Plan(DependencyGraph dependencies, IReadOnlyCollection<PruningGroup> groups, IReadOnlyDictionary<PruningGroup, float[]> scores,
        PruningTarget target, AllocationOptions options, IReadOnlyList<SensitivityPoint>? sensitivity = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(dependencies);
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(scores);
        target = (target ?? throw new ArgumentNullException(nameof(target))).Validated();
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        var counter = new PlanCounter(dependencies);
        if (groups.Count == 0) throw new SecateurException(ErrorCode.ImpossibleTarget, "no group of this model can be pruned (a dry run lists every group and why it is blocked)");
        // Groups cut in blocks (grouped convolutions) rank positions within a block by their score summed over the
        // blocks, as Torch-Pruning does: one position goes from every block at once.
        var order = groups.ToDictionary(g => g, g => Ascending(g.UnitSize > 1 ? g.UnitScores(scores[g]) : scores[g]));
        // Normalised scores make groups comparable for global ranking: each group's scores divided by its mean.
        var normalised = groups.ToDictionary(g => g, g => Normalise(scores[g]));

        if (options.Kind == AllocationKind.Sensitivity && (sensitivity is null || sensitivity.Count == 0))
            throw new SecateurException(ErrorCode.BadArgument, "sensitivity allocation needs the points of a sensitivity analysis (which needs data)", nameof(PruningOptions.Sensitivity));
        var curves = groups.ToDictionary(g => g, g => (sensitivity ?? []).Where(p => p.Group == g.Name).OrderBy(p => p.Ratio).Select(p => (p.Ratio, p.Drop)).ToArray());

        Dictionary<PruningGroup, long> CountsAt(double level) => options.Kind switch
        {
            AllocationKind.Uniform => groups.ToDictionary(g => g, g => Clamp(g, (long)Math.Round(level * g.Channels), options)),
            AllocationKind.Sensitivity => groups.ToDictionary(g => g, g => Clamp(g, (long)Math.Floor(RatioWithin(curves[g], level) * g.Channels), options)),
            _ => groups.ToDictionary(g => g, g => Clamp(g, normalised[g].Count(s => s < level), options)),
        };

        double Measure(Dictionary<PruningGroup, long> counts)
        {
            if (target.Ratio.HasValue)
                return options.Kind == AllocationKind.Uniform ? 0 : counts.Values.Sum() / (double)groups.Sum(g => g.Channels);
            var (p, m) = counter.Count(counts);
            return target.Params.HasValue ? p : m;
        }
        bool Met(Dictionary<PruningGroup, long> counts)
        {
            if (target.Ratio is { } r) return options.Kind == AllocationKind.Uniform || Measure(counts) >= r - 1e-9;
            var (p, m) = counter.Count(counts);
            return target.Params is { } maxP ? p <= maxP
                : target.Macs is { } maxM ? m <= maxM
                : counter.Base.Macs / (double)m >= target.Speedup!.Value - 1e-9;
        }

        Dictionary<PruningGroup, IReadOnlyCollection<long>> Removal(Dictionary<PruningGroup, long> counts)
        {
            var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>>();
            foreach (var g in groups)
                if (counts[g] > 0)
                    remove[g] = g.UnitSize > 1
                        ? g.FromUnits(order[g].Take((int)(counts[g] / g.UnitSize)).Select(i => (long)i))
                        : order[g].Take((int)counts[g]).Select(i => (long)i).Order().ToArray();
            return remove;
        }

        // The level of the most pruning allowed: every group at its limit.
        double top = options.Kind switch
        {
            AllocationKind.Uniform => 1,
            AllocationKind.Sensitivity => curves.Values.SelectMany(c => c).Select(p => p.Drop).DefaultIfEmpty(0).Max() + 1e-6,
            _ => normalised.Values.SelectMany(v => v).DefaultIfEmpty(0).Max() + 1e-6,
        };
        if (target.Latency is { } latency)
        {
            var found = LatencySearch.Run(dependencies, groups, CountsAt, top, counts => new PruningPlan(dependencies, Removal(counts)).Apply(), counter, latency, options, log);
            return new PruningPlan(dependencies, Removal(found.Counts)) { Latency = found.Result };
        }

        Dictionary<PruningGroup, long> chosen;
        if (target.Threshold is { } threshold)
            chosen = BelowThreshold(groups, scores, threshold, options);
        else if (target.Ratio is { } ratio && options.Kind == AllocationKind.Uniform)
            chosen = CountsAt(ratio);
        else
        {
            double lo = 0, hi = top;
            var most = CountsAt(hi);
            if (!Met(most))
            {
                var (p, m) = counter.Count(most);
                throw new SecateurException(ErrorCode.ImpossibleTarget,
                    $"the target ({target}) cannot be met: pruning every group to its limit (keeping {1 - options.MaxGroupRatio:P0} of each, multiples of {options.RoundTo}) still leaves {p:N0} params and {m:N0} MACs ({counter.Base.Macs / (double)m:0.##}x fewer MACs)");
            }
            for (int i = 0; i < 60; i++)
            {
                double mid = (lo + hi) / 2;
                if (Met(CountsAt(mid))) hi = mid; else lo = mid;
            }
            chosen = CountsAt(hi);
        }
        return new PruningPlan(dependencies, Removal(chosen));
    }

    /// <summary>
    /// The largest ratio whose interpolated accuracy drop stays within <paramref name="threshold"/>, walking the
    /// measured curve from (0, 0) and stopping at the first point above the threshold.
    /// </summary>
    internal static double RatioWithin((double Ratio, double Drop)[] curve, double threshold)
    {
        double prevRatio = 0, prevDrop = 0;
        foreach (var (ratio, drop) in curve)
        {
            double d = Math.Max(prevDrop, drop); // a drop never counts as recovering at a larger ratio
            if (d > threshold)
                return d == prevDrop ? prevRatio : prevRatio + (ratio - prevRatio) * (threshold - prevDrop) / (d - prevDrop);
            prevRatio = ratio;
            prevDrop = d;
        }
        return prevRatio;
    }

    /// <summary>How many channels a group may lose given a wish: within the per-group maximum, keeping a multiple of RoundTo.</summary>
    internal static long Clamp(PruningGroup g, long wish, AllocationOptions o)
    {
        long maxRemove = Math.Min(g.Channels - 1, (long)Math.Floor(g.Channels * o.MaxGroupRatio));
        long remove = Math.Clamp(wish, 0, maxRemove);
        // A group of N channels or more keeps a multiple of N (a group of exactly N cannot go entirely: it is left
        // whole); a smaller group is no multiple to begin with, so it is pruned freely.
        if (o.RoundTo > 1 && g.Channels >= o.RoundTo)
        {
            long keep = g.Channels - remove;
            keep = Math.Max(o.RoundTo, (keep + o.RoundTo - 1) / o.RoundTo * o.RoundTo); // round the kept count up
            remove = Math.Max(0, g.Channels - keep);
        }
        // Removal units (a position in every block of grouped convolutions, a whole norm group) go whole: round down to whole units that still
        // keeps a multiple of RoundTo where one exists (else the block rule wins: it is what makes the model valid).
        if (g.UnitSize > 1)
        {
            long whole = remove / g.UnitSize * g.UnitSize;
            for (long r = whole; r > 0; r -= g.UnitSize)
                if (o.RoundTo <= 1 || g.Channels <= o.RoundTo || (g.Channels - r) % o.RoundTo == 0) return r;
            return whole;
        }
        return remove;
    }

    /// <summary>
    /// Per group, how many channels have an importance share (score ÷ the sum over the group, or over all groups
    /// for global allocation) below <paramref name="threshold"/>, clamped to the per-group maximum.
    /// </summary>
    private static Dictionary<PruningGroup, long> BelowThreshold(IReadOnlyCollection<PruningGroup> groups, IReadOnlyDictionary<PruningGroup, float[]> scores,
        double threshold, AllocationOptions options)
    {
        if (options.Kind == AllocationKind.Sensitivity)
            throw new SecateurException(ErrorCode.BadArgument, "an importance threshold allocates by score shares and cannot be combined with sensitivity allocation", nameof(PruningTarget.Threshold));
        double total = groups.Sum(g => scores[g].Sum(s => (double)s));
        return groups.ToDictionary(g => g, g =>
        {
            var own = scores[g];
            double sum = options.Kind == AllocationKind.Global ? total : own.Sum(s => (double)s);
            // All-zero scores carry no ranking: nothing falls below the threshold.
            long below = sum > 0 ? own.Count(s => s / sum < threshold) : 0;
            return Clamp(g, below, options);
        });
    }

    /// <summary>
    /// The <paramref name="count"/> lowest-scored channels of <paramref name="group"/> as an admissible removal: for a
    /// group grouped convolutions cut in blocks (<see cref="PruningGroup.Period"/>), <paramref name="count"/> is rounded
    /// down to whole positions and the positions with the lowest score summed over the blocks go from every block.
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="scores">Importance per channel of the group.</param>
    /// <param name="count">How many channels to remove at most.</param>
    public static IReadOnlyCollection<long> LowestScored(PruningGroup group, float[] scores, long count)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Length != group.Channels) throw new ArgumentException($"group '{group.Name}' has {group.Channels} channels, got {scores.Length} scores", nameof(scores));
        return group.UnitSize > 1
            ? group.FromUnits(Ascending(group.UnitScores(scores)).Take((int)Math.Max(0, count / group.UnitSize)).Select(i => (long)i))
            : Ascending(scores).Take((int)Math.Max(0, count)).Select(i => (long)i).Order().ToArray();
    }

    private static int[] Ascending(float[] scores)
    {
        var idx = Enumerable.Range(0, scores.Length).ToArray();
        // Stable: equal scores keep channel order, so plans are deterministic.
        return idx.OrderBy(i => scores[i]).ThenBy(i => i).ToArray();
    }

    private static float[] Normalise(float[] scores)
    {
        double mean = scores.Length == 0 ? 1 : scores.Average(s => (double)s);
        return mean > 0 ? scores.Select(s => (float)(s / mean)).ToArray() : scores.Select(_ => 1f).ToArray();
    }
}
