namespace Secateur.Pruning;

/// <summary>
/// Uniform random scores in [0, 1) ("random"): the control every criterion must beat. Deterministic for a given
/// graph and <see cref="ImportanceContext.Seed"/> (groups are drawn in order from one generator).
/// </summary>
public sealed class RandomImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "random";

    /// <inheritdoc/>
    public bool NeedsData => false;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.Check(dependencies, context);
        var rng = new Random(context.Seed);
        var result = new Dictionary<PruningGroup, float[]>();
        foreach (var group in dependencies.Prunable)
            result[group] = Enumerable.Range(0, checked((int)group.Channels)).Select(_ => (float)rng.NextDouble()).ToArray();
        return result;
    }
}
