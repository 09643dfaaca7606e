using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Mean absolute activation ("activation"): a channel that carries little signal matters little. It is measured
/// on what the following layers actually read — the input of every consumer conv or linear layer of the group (so
/// after the activation, pooling or residual addition that follows the producer), at the group's offset in that
/// input — in eval mode without gradients over up to <see cref="ImportanceContext.MaxBatches"/> calibration batches.
/// Channel j scores the mean of |x| over samples and positions, averaged over those inputs and batches. A group
/// that no layer with weights reads is measured on its producers' outputs instead.
/// </summary>
public sealed class ActivationImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "activation";

    /// <inheritdoc/>
    public bool NeedsData => true;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.CheckWithTorch(dependencies, context);
        var data = ImportanceMath.RequireData(Name, context);
        var plan = dependencies.Prunable.ToDictionary(g => g, g => (Points(dependencies, g), (Func<Tensor, Tensor>)MeanAbsolute));
        return Measure(dependencies, data, context, plan);
    }

    /// <summary>Per-channel mean |x| of feature rows.</summary>
    internal static Tensor MeanAbsolute(Tensor rows) => rows.abs().mean([1]);

    /// <summary>The values the group's consumers read, or its producers' outputs when it has no consumer.</summary>
    internal static IReadOnlyList<FeaturePoint> Points(DependencyGraph dependencies, PruningGroup group)
    {
        var graph = dependencies.Graph;
        FeaturePoint At(string value, ChannelSlice s, long factor) =>
            new(value, s.Offset, factor, dependencies.Values.TryGetValue(value, out var c) ? c.Axis : 1);
        var points = group.Slices.Where(s => s.Role == SliceRole.Consumer && s.OneToOne)
            .Select(s => At(graph.FindNode(s.Node)!.Inputs[0], s, s.Factor)).Distinct().ToList();
        // A chunk's producer writes it at the chunk's offset.
        if (points.Count == 0)
            points = group.Slices.Where(s => s.Role == SliceRole.Producer).Select(s => At(graph.FindNode(s.Node)!.Output, s, 1)).Distinct().ToList();
        return points;
    }

    /// <summary>
    /// One calibration pass: for every group, the per-channel statistic of each of its points, averaged over points
    /// and batches.
    /// </summary>
    internal static Dictionary<PruningGroup, float[]> Measure(DependencyGraph dependencies, Data.IBatchSource data, ImportanceContext context,
        IReadOnlyDictionary<PruningGroup, (IReadOnlyList<FeaturePoint> Points, Func<Tensor, Tensor> Statistic)> plan)
    {
        var capture = plan.Values.SelectMany(p => p.Points).Select(p => p.Value).ToHashSet(StringComparer.Ordinal);
        var sums = plan.Keys.ToDictionary(g => g, g => new double[g.Channels]);
        int batches = ImportanceMath.ForEachBatch(dependencies.Graph, data, context, capture, (_, values) =>
        {
            foreach (var (group, (points, statistic)) in plan)
            {
                var acc = sums[group];
                foreach (var p in points)
                {
                    var v = ImportanceMath.ToArray(statistic(ImportanceMath.FeatureRows(values[p.Value], p, group.Channels)));
                    for (int j = 0; j < acc.Length; j++) acc[j] += v[j] / points.Count;
                }
            }
        });
        return sums.ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)(v / batches)).ToArray());
    }
}
