using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Group magnitude ("l1", "l2"), as in Torch-Pruning's group-level magnitude importance. For every slice of the
/// group — producer weight rows and biases, per-channel parameters (batch-norm scale and shift, depthwise filters
/// and biases, per-channel constants) and consumer weight columns — the Lp norm of each channel's elements in that
/// tensor is taken; each slice's vector is divided by its mean over the group's channels (so a 3×3×256 filter does
/// not drown a batch-norm scale) and the normalised vectors are summed over slices:
/// <c>score[j] = Σ_slices ‖slice[j]‖_p / mean_k ‖slice[k]‖_p</c>. Batch-norm running mean and variance are skipped:
/// they describe the data, not what the network learned. Scores are comparable across groups (mean ≈ slice count).
/// </summary>
public sealed class MagnitudeImportance : IImportance
{
    /// <summary>Creates the criterion for the L<paramref name="p"/> norm.</summary>
    /// <param name="p">1 or 2.</param>
    public MagnitudeImportance(int p)
    {
        if (p is not (1 or 2)) throw new SecateurException(ErrorCode.BadArgument, $"magnitude importance supports the L1 and L2 norms, not L{p}");
        P = p;
    }

    /// <summary>The norm: 1 or 2.</summary>
    public int P { get; }

    /// <inheritdoc/>
    public string Name => P == 1 ? "l1" : "l2";

    /// <inheritdoc/>
    public bool NeedsData => false;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.Check(dependencies, context);
        return Score(dependencies, P, s => !ImportanceMath.IsBatchNormStatistic(dependencies.Graph, s));
    }

    /// <summary>The normalised Lp group magnitude over the slices <paramref name="include"/> accepts.</summary>
    internal static Dictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, int p, Func<ChannelSlice, bool> include, IEnumerable<PruningGroup>? groups = null)
    {
        using var scope = NewDisposeScope();
        var tensor = ImportanceMath.Initializers(dependencies.Graph);
        var result = new Dictionary<PruningGroup, float[]>();
        foreach (var group in groups ?? dependencies.Prunable)
        {
            var total = zeros(group.Channels, dtype: ScalarType.Float64);
            foreach (var s in group.Slices.Where(include))
            {
                var rows = ImportanceMath.ChannelRows(tensor(s.Tensor), s, group.Channels);
                var norm = p == 1 ? rows.abs().sum(1) : rows.square().sum(1).sqrt();
                total += ImportanceMath.NormaliseByMean(norm);
            }
            result[group] = ImportanceMath.ToArray(total);
        }
        return result;
    }
}
