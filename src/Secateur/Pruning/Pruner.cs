using System.Diagnostics;
using System.Text.RegularExpressions;
using Secateur.Analysis;
using Secateur.Graph;

namespace Secateur.Pruning;

/// <summary>What to prune and how.</summary>
public sealed record PruningOptions
{
    /// <summary>The target.</summary>
    public required PruningTarget Target { get; init; }
    /// <summary>Allocation over groups.</summary>
    public AllocationOptions Allocation { get; init; } = new();
    /// <summary>Layer names (or patterns with <c>*</c>) whose groups are left alone.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];
    /// <summary>Sensitivity analysis of the unpruned model, for <see cref="AllocationKind.Sensitivity"/>.</summary>
    public IReadOnlyList<SensitivityPoint>? Sensitivity { get; init; }
    /// <summary>Context for the criterion (calibration data, seed).</summary>
    public ImportanceContext Importance { get; init; } = new();
    /// <summary>Receives progress lines of long searches (a latency target measures every candidate).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>Channels of one group before and after pruning.</summary>
/// <param name="Group">Group name (its first producer).</param>
/// <param name="Layers">Producer layers of the group.</param>
/// <param name="Before">Channels before.</param>
/// <param name="After">Channels after.</param>
public sealed record GroupChange(string Group, IReadOnlyList<string> Layers, long Before, long After);

/// <summary>The outcome of one pruning step.</summary>
/// <param name="Pruned">The smaller graph.</param>
/// <param name="Plan">The channels removed.</param>
/// <param name="Before">Statistics of the input graph.</param>
/// <param name="After">Statistics of the pruned graph.</param>
/// <param name="Groups">Per-group channel counts.</param>
/// <param name="Seconds">Time spent (dependency analysis, scoring, allocation, removal).</param>
public sealed record PruningResult(ModelGraph Pruned, PruningPlan Plan, ModelStats Before, ModelStats After, IReadOnlyList<GroupChange> Groups, double Seconds)
{
    /// <summary>Base MACs ÷ pruned MACs.</summary>
    public double Speedup => Before.Macs / (double)Math.Max(1, After.Macs);

    /// <summary>For a latency target: measured latencies of the dense and pruned model, and the search.</summary>
    public LatencySearchResult? Latency => Plan.Latency;
}

/// <summary>One entry of the pre-flight report.</summary>
/// <param name="Group">Group name.</param>
/// <param name="Channels">Channel count.</param>
/// <param name="Producers">Layers creating the channels.</param>
/// <param name="Layers">Every layer whose weights change with the group.</param>
/// <param name="Prunable">Whether it can be pruned.</param>
/// <param name="Reason">Why not, when it cannot.</param>
public sealed record PreflightEntry(string Group, long Channels, IReadOnlyList<string> Producers, IReadOnlyList<string> Layers, bool Prunable, string? Reason);

/// <summary>Structured pruning in one step: dependencies → importance → allocation → physical removal.</summary>
public static class Pruner
{
    /// <summary>Every group of <paramref name="graph"/>, prunable or not and why — before anything is changed.</summary>
    public static IReadOnlyList<PreflightEntry> Preflight(ModelGraph graph, IReadOnlyList<string>? exclude = null)
    {
        var deps = DependencyGraph.Build(graph);
        return deps.Groups.Select(g =>
        {
            var excluded = IsExcluded(g, exclude ?? []);
            return new PreflightEntry(g.Name, g.Channels, g.Producers.ToList(), g.Slices.Select(s => s.Node).Distinct().ToList(),
                g.Prunable && !excluded, g.BlockedReason ?? (excluded ? "excluded by the exclusion list" : null));
        }).ToList();
    }

    /// <summary>Prunes <paramref name="graph"/> with <paramref name="importance"/> to <paramref name="options"/>' target.</summary>
    public static PruningResult Prune(ModelGraph graph, IImportance importance, PruningOptions options)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(importance);
        ArgumentNullException.ThrowIfNull(options);
        if (importance.NeedsData && options.Importance.Calibration is null)
            throw new SecateurException(ErrorCode.BadArgument, $"criterion '{importance.Name}' needs calibration data", ParameterNames.Data);
        var clock = Stopwatch.StartNew();
        var deps = DependencyGraph.Build(graph);
        var groups = deps.Prunable.Where(g => !IsExcluded(g, options.Exclude)).ToList();
        var scores = importance.Score(deps, options.Importance);
        var plan = Allocation.Plan(deps, groups, scores, options.Target, options.Allocation, options.Sensitivity, options.Log);
        var pruned = plan.Apply();
        double seconds = clock.Elapsed.TotalSeconds;
        var changes = deps.Prunable.Select(g => new GroupChange(g.Name, g.Producers.ToList(), g.Channels,
            g.Channels - (plan.Remove.TryGetValue(g, out var r) ? r.Count : 0))).ToList();
        return new PruningResult(pruned, plan, ModelStats.Compute(graph), ModelStats.Compute(pruned), changes, seconds);
    }

    private static bool IsExcluded(PruningGroup g, IReadOnlyList<string> patterns) =>
        patterns.Count > 0 && g.Slices.Where(s => s.Role != SliceRole.Consumer).Select(s => s.Node).Distinct().Any(n => patterns.Any(p => Matches(n, p)));

    internal static bool Matches(string name, string pattern) =>
        pattern.Contains('*', StringComparison.Ordinal)
            ? Regex.IsMatch(name, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.None, TimeSpan.FromSeconds(1))
            : name == pattern;
}
