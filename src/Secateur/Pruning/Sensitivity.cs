using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Pruning;

/// <summary>Accuracy of the model when one group alone is pruned by one ratio.</summary>
/// <param name="Group">Group name.</param>
/// <param name="Channels">Channels of the group.</param>
/// <param name="Ratio">Fraction of the group's channels removed.</param>
/// <param name="Removed">Channels removed.</param>
/// <param name="Accuracy">Validation top-1 accuracy.</param>
/// <param name="Drop">Baseline accuracy minus <paramref name="Accuracy"/>.</param>
public sealed record SensitivityPoint(string Group, long Channels, double Ratio, long Removed, double Accuracy, double Drop);

/// <summary>
/// Sensitivity analysis: prunes each group alone at several ratios (lowest-scored channels first) and measures
/// validation accuracy, so the user sees which layers tolerate pruning and which do not.
/// </summary>
public static class Sensitivity
{
    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) unless there is at least one ratio and each is in (0, 1).</summary>
    public static void CheckRatios(IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(ratios);
        if (ratios.Count == 0 || ratios.Any(r => !(r > 0 && r < 1)))
            throw new SecateurException(ErrorCode.BadArgument, "sensitivity ratios must be in (0, 1), e.g. 0.25,0.5,0.75");
    }

    /// <summary>Baseline accuracy and one point per prunable group and ratio.</summary>
    public static (double Baseline, IReadOnlyList<SensitivityPoint> Points) Analyze(ModelGraph graph, IImportance importance, ImportanceContext context,
        IBatchSource validation, IReadOnlyList<double> ratios, IProgress<(int Done, int Total)>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(importance);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(validation);
        CheckRatios(ratios);
        var device = Devices.Parse(context.Device);
        double Accuracy(ModelGraph g) => Trainer.Accuracy(g, validation, device);
        var deps = DependencyGraph.Build(graph);
        var scores = importance.Score(deps, context);
        double baseline = Accuracy(graph);
        var groups = deps.Prunable.ToList();
        var points = new List<SensitivityPoint>();
        int done = 0, total = groups.Count * ratios.Count;
        foreach (var g in groups)
        {
            foreach (var r in ratios)
            {
                // Groups cut in blocks by grouped convolutions lose whole positions: k is what is actually removed.
                var remove = Allocation.LowestScored(g, scores[g], Math.Min(g.Channels - 1, (long)Math.Round(r * g.Channels)));
                long k = remove.Count;
                double acc = k == 0 ? baseline : Accuracy(StructuredPruner.Prune(deps,
                    new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [g] = remove }));
                points.Add(new SensitivityPoint(g.Name, g.Channels, r, k, acc, baseline - acc));
                progress?.Report((++done, total));
            }
        }
        return (baseline, points);
    }
}
