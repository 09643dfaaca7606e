using System.Numerics.Tensors;
using Secateur.Graph;

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
    /// <remarks>
    /// Computed on the graph's managed arrays in one pass per slice (no torch tensors, no copies): on ResNet-50 this
    /// is most of the time of a whole prune, so it is written for speed. Sums are accumulated in double precision.
    /// </remarks>
    internal static Dictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, int p, Func<ChannelSlice, bool> include, IEnumerable<PruningGroup>? groups = null)
    {
        var graph = dependencies.Graph;
        var list = (groups ?? dependencies.Prunable).ToList();
        var scores = new float[list.Count][];
        // Groups read disjoint slices of shared arrays: independent, so they are scored in parallel.
        Parallel.For(0, list.Count, g =>
        {
            var group = list[g];
            var total = new double[group.Channels];
            // A grouped convolution's input axis is shared by its groups (column j mod Cin/groups), not one row per channel:
            // those slices are left out, and the channel is scored by its producer and per-channel parameters.
            foreach (var s in group.Slices.Where(s => s.OneToOne && include(s)))
            {
                var norm = ChannelNorms(graph.Initializers[s.Tensor], s, group.Channels, p);
                double mean = norm.Average();
                double scale = mean > 0 ? 1 / mean : 1;
                for (int j = 0; j < total.Length; j++) total[j] += norm[j] * scale;
            }
            scores[g] = Array.ConvertAll(total, v => (float)v);
        });
        return list.Select((group, g) => (group, g)).ToDictionary(x => x.group, x => scores[x.g]);
    }

    /// <summary>‖channel j of the slice‖_p for every channel of the group: L1 sums magnitudes, L2 the root of the sum of squares.</summary>
    internal static double[] ChannelNorms(TensorData tensor, ChannelSlice s, long channels, int p)
    {
        var x = tensor.Floats;
        var shape = tensor.Shape;
        long outer = 1, inner = 1;
        for (int a = 0; a < s.Axis; a++) outer *= shape[a];
        for (int a = s.Axis + 1; a < shape.Length; a++) inner *= shape[a];
        long n = shape[s.Axis];
        long first = s.Offset * s.Factor, count = channels * s.Factor;
        var sums = new double[count];
        for (long o = 0; o < outer; o++)
            for (long i = 0; i < count; i++)
            {
                int start = checked((int)((o * n + first + i) * inner));
                if (inner >= 32)
                {
                    var block = new ReadOnlySpan<float>(x, start, (int)inner);
                    sums[i] += p == 1 ? TensorPrimitives.SumOfMagnitudes(block) : TensorPrimitives.SumOfSquares(block);
                    continue;
                }
                // Short rows (1×1 and 3×3 kernels seen from the input side): a plain loop beats a vector call per row.
                double v = 0;
                int end = start + (int)inner;
                if (p == 1)
                    for (int e = start; e < end; e++) v += Math.Abs(x[e]);
                else
                    for (int e = start; e < end; e++) v += (double)x[e] * x[e];
                sums[i] += v;
            }
        var norms = new double[channels];
        for (long j = 0; j < channels; j++)
        {
            double v = 0;
            for (long k = 0; k < s.Factor; k++) v += sums[j * s.Factor + k];
            norms[j] = p == 1 ? v : Math.Sqrt(v);
        }
        return norms;
    }
}
