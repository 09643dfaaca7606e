namespace Secateur.Pruning;

/// <summary>
/// Network slimming ("bn", Liu et al. 2017): a channel whose batch-norm scale |γ| is small contributes little.
/// Channel j scores Σ over the group's batch-norm layers of |γ_j| / mean_k |γ_k| (each layer normalised, so a
/// residual stage with five batch norms is not favoured over one with two). Groups without any batch norm fall back
/// to the L1 group magnitude of their producer slices (weights and biases, each normalised by its mean), so every
/// prunable group still gets a score on the same scale.
/// </summary>
public sealed class BatchNormImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "bn";

    /// <inheritdoc/>
    public bool NeedsData => false;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.Check(dependencies, context);
        var graph = dependencies.Graph;
        var withBn = dependencies.Prunable.Where(g => g.Slices.Any(s => ImportanceMath.IsBatchNormScale(graph, s))).ToList();
        var result = MagnitudeImportance.Score(dependencies, 1, s => ImportanceMath.IsBatchNormScale(graph, s), withBn);
        var fallback = MagnitudeImportance.Score(dependencies, 1, s => s.Role == SliceRole.Producer, dependencies.Prunable.Except(withBn));
        foreach (var (g, v) in fallback) result[g] = v;
        return result;
    }
}
