using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Filter pruning via geometric median ("fpgm", He et al. 2019): a filter close to the geometric median of its
/// layer is replaceable by the others. For each filter slice of the group (producer weight rows and depthwise
/// filters; biases are not filters), channel j scores the sum of Euclidean distances from its filter to every other
/// filter of that layer; each slice's vector is divided by its mean and the results are summed over slices.
/// </summary>
public sealed class FpgmImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "fpgm";

    /// <inheritdoc/>
    public bool NeedsData => false;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.CheckWithTorch(dependencies, context);
        using var scope = NewDisposeScope();
        var graph = dependencies.Graph;
        var tensor = ImportanceMath.Initializers(graph);
        var result = new Dictionary<PruningGroup, float[]>();
        foreach (var group in dependencies.Prunable)
        {
            var total = zeros(group.Channels, dtype: ScalarType.Float64);
            foreach (var s in group.Slices.Where(s => ImportanceMath.IsFilter(graph, s)))
            {
                var rows = ImportanceMath.ChannelRows(tensor(s.Tensor), s, group.Channels);
                // Pairwise distances from the Gram matrix; clamping removes the tiny negatives of rounding.
                var sq = rows.square().sum(1);
                var d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * rows.matmul(rows.t())).clamp_min(0);
                total += ImportanceMath.NormaliseByMean(d2.sqrt().sum(1));
            }
            result[group] = ImportanceMath.ToArray(total);
        }
        return result;
    }
}
