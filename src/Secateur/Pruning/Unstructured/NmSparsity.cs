using System.Globalization;
using Secateur.Graph;

namespace Secateur.Pruning.Unstructured;

/// <summary>An N:M pattern: at most N non-zeros in every group of M consecutive weights (2:4 on NVIDIA Ampere and later).</summary>
/// <param name="N">Weights kept per group.</param>
/// <param name="M">Group size.</param>
public sealed record NmPattern(int N, int M)
{
    /// <summary>Parses <c>N:M</c>, e.g. <c>2:4</c>.</summary>
    /// <exception cref="SecateurException">BadArgument for anything else or when N is not below M.</exception>
    public static NmPattern Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int m))
            throw new SecateurException(ErrorCode.BadArgument, $"bad N:M pattern '{text}': expected N:M such as 2:4", nameof(SparsityOptions.Nm));
        return new NmPattern(n, m).Validated();
    }

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) unless 1 ≤ N &lt; M.</summary>
    public NmPattern Validated()
    {
        if (N < 1 || M < 2 || N >= M) throw new SecateurException(ErrorCode.BadArgument, $"N:M pattern {N}:{M}: N must be at least 1 and below M", nameof(SparsityOptions.Nm));
        return this;
    }

    /// <summary>Fraction of zeros the pattern gives: 1 − N/M.</summary>
    public double Sparsity => 1 - N / (double)M;

    /// <inheritdoc/>
    public override string ToString() => FormattableString.Invariant($"{N}:{M}");
}

/// <summary>The N:M state of one weight tensor.</summary>
/// <param name="Layer">Node name.</param>
/// <param name="Weight">Weight initializer.</param>
/// <param name="Eligible">Whether its input-channel count is a multiple of M (otherwise it is left dense).</param>
/// <param name="Groups">Groups of M weights.</param>
/// <param name="Violations">Groups with more than N non-zeros.</param>
public sealed record NmLayerCheck(string Layer, string Weight, bool Eligible, long Groups, long Violations);

/// <summary>
/// N:M semi-structured sparsity. Groups run along the input-channel dimension, as NVIDIA's ASP lays them out: for a
/// Conv weight (Cout, Cin/g, kH, kW), a group is M consecutive input channels at the same output filter and kernel
/// position (o, c..c+M−1, y, x); for a Gemm it is M consecutive input features of one output (along axis 1 with
/// transB = 1, along axis 0 otherwise). A layer whose input-channel count is not a multiple of M is left dense.
/// </summary>
public static class NmSparsity
{
    /// <summary>Masks keeping the N largest magnitudes of every group in the eligible <paramref name="weights"/>.</summary>
    public static WeightMasks Masks(ModelGraph graph, IReadOnlyList<PrunableWeight> weights, NmPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(weights);
        pattern = (pattern ?? throw new ArgumentNullException(nameof(pattern))).Validated();
        var masks = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        var group = new int[pattern.M];
        foreach (var w in weights)
        {
            var t = graph.Initializers[w.Weight];
            var (outer, channels, stride) = Layout(w.Layer, t);
            if (channels % pattern.M != 0) continue;
            var data = t.Floats;
            var keep = new bool[data.Length];
            foreach (var start in GroupStarts(outer, channels, stride, pattern.M))
            {
                for (int j = 0; j < pattern.M; j++) group[j] = (int)(start + j * stride);
                // The N largest |w| of the group; ties keep the earlier channel.
                Array.Sort(group, (a, b) => Math.Abs(data[a]) != Math.Abs(data[b]) ? Math.Abs(data[b]).CompareTo(Math.Abs(data[a])) : a.CompareTo(b));
                for (int j = 0; j < pattern.N; j++) keep[group[j]] = true;
            }
            masks[w.Weight] = keep;
        }
        if (masks.Count == 0)
            throw new SecateurException(ErrorCode.BadArgument, $"no considered layer has an input-channel count divisible by {pattern.M}: nothing to make {pattern}-sparse");
        return new WeightMasks(masks);
    }

    /// <summary>
    /// Checks the N:M pattern on <paramref name="weights"/> (names of weight initializers), or on every Conv and Gemm
    /// weight whose input-channel count is a multiple of M when null.
    /// </summary>
    public static IReadOnlyList<NmLayerCheck> Check(ModelGraph graph, NmPattern pattern, IEnumerable<string>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        pattern = (pattern ?? throw new ArgumentNullException(nameof(pattern))).Validated();
        var wanted = weights?.ToHashSet(StringComparer.Ordinal);
        var result = new List<NmLayerCheck>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes.Where(n => n.Op is OpKind.Conv or OpKind.Gemm))
        {
            if (n.InputOrNull(1) is not { } name || !graph.Initializers.TryGetValue(name, out var t) || t.Type != ElementType.Float) continue;
            if (wanted is not null && !wanted.Contains(name) || !seen.Add(name)) continue;
            var (outer, channels, stride) = Layout(n, t);
            if (channels % pattern.M != 0)
            {
                if (wanted is not null) result.Add(new NmLayerCheck(n.Name, name, false, 0, 0));
                continue;
            }
            long groups = 0, violations = 0;
            foreach (var start in GroupStarts(outer, channels, stride, pattern.M))
            {
                int nonZero = 0;
                for (int j = 0; j < pattern.M; j++) if (t.Floats[start + j * stride] != 0f) nonZero++;
                groups++;
                if (nonZero > pattern.N) violations++;
            }
            result.Add(new NmLayerCheck(n.Name, name, true, groups, violations));
        }
        return result;
    }

    /// <summary>True when every eligible checked layer satisfies the pattern and at least one was checked.</summary>
    public static bool Satisfies(ModelGraph graph, NmPattern pattern, IEnumerable<string>? weights = null)
    {
        var checks = Check(graph, pattern, weights);
        return checks.Any(c => c.Eligible) && checks.All(c => !c.Eligible || c.Violations == 0);
    }

    /// <summary>(elements before the channel axis, channels, elements after it) of a Conv or Gemm weight.</summary>
    private static (long Outer, long Channels, long Stride) Layout(Node layer, TensorData t)
    {
        var s = t.Shape;
        if (s.Length < 2) throw new SecateurException(ErrorCode.InvalidGraph, $"node '{layer.Name}': weight of rank {s.Length}, expected 2 or more");
        int axis = layer.Op == OpKind.Gemm && layer.Int("transB", 0) == 0 ? 0 : 1;
        long outer = s.Take(axis).Aggregate(1L, (a, b) => a * b);
        long stride = s.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
        return (outer, s[axis], stride);
    }

    /// <summary>Flat index of the first element of every group.</summary>
    private static IEnumerable<long> GroupStarts(long outer, long channels, long stride, int m)
    {
        for (long o = 0; o < outer; o++)
            for (long c = 0; c < channels; c += m)
                for (long i = 0; i < stride; i++)
                    yield return (o * channels + c) * stride + i;
    }
}
