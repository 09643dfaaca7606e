using Secateur.Graph;

namespace Secateur.Pruning.Unstructured;

/// <summary>Whether the sparsity is the same in every layer or set by one threshold across layers.</summary>
public enum SparsityScope
{
    /// <summary>Every layer loses the same fraction of its weights.</summary>
    Layer,
    /// <summary>One threshold on the scores across all layers.</summary>
    Global,
}

/// <summary>How a weight is scored; the lowest scores are pruned.</summary>
public enum WeightCriterion
{
    /// <summary>|w|.</summary>
    Magnitude,
    /// <summary>
    /// Layer-adaptive magnitude (LAMP, Lee et al. 2021): w² divided by the sum of w² over the weights of the same
    /// layer at least as large. It is 1 for each layer's largest weight, so no layer is ever emptied; use with
    /// <see cref="SparsityScope.Global"/>.
    /// </summary>
    Lamp,
}

/// <summary>What to prune, weight by weight.</summary>
public sealed record SparsityOptions
{
    /// <summary>Fraction of the considered weights to zero, in [0, 1).</summary>
    public double Sparsity { get; init; } = 0.5;
    /// <summary>Layer-wise or global threshold (ignored for N:M).</summary>
    public SparsityScope Scope { get; init; } = SparsityScope.Layer;
    /// <summary>Score (ignored for N:M).</summary>
    public WeightCriterion Criterion { get; init; } = WeightCriterion.Magnitude;
    /// <summary>When set, N:M sparsity instead of a sparsity fraction.</summary>
    public NmPattern? Nm { get; init; }
    /// <summary>Layer names (or patterns with <c>*</c>, or weight names) to leave dense.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];
    /// <summary>Also prune the classifier (the last Conv or Gemm layer); left dense by default, as is common practice.</summary>
    public bool PruneClassifier { get; init; }

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) naming the first invalid value.</summary>
    public SparsityOptions Validated()
    {
        if (Nm is null && !(Sparsity >= 0 && Sparsity < 1))
            throw new SecateurException(ErrorCode.BadArgument, $"the sparsity must be in [0, 1) (got {Sparsity})", nameof(Sparsity));
        Nm?.Validated();
        return this;
    }
}

/// <summary>One weight tensor that weight-level pruning considers.</summary>
/// <param name="Layer">The Conv or Gemm node.</param>
/// <param name="Weight">Its weight initializer.</param>
public sealed record PrunableWeight(Node Layer, string Weight);

/// <summary>
/// Unstructured (weight-level) magnitude pruning: masks of the Conv and Gemm weights with the lowest scores,
/// layer-wise or with one global threshold, by magnitude or LAMP. Shapes never change; pruned weights are zero.
/// </summary>
public static class MagnitudePruner
{
    /// <summary>
    /// The Conv and Gemm weights considered: initializer weights of every Conv and Gemm node, less the excluded
    /// layers and (unless <see cref="SparsityOptions.PruneClassifier"/>) the classifier, the last of those layers.
    /// </summary>
    public static IReadOnlyList<PrunableWeight> Weights(ModelGraph graph, SparsityOptions options)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(options);
        var parameters = graph.ParameterNames().ToHashSet(StringComparer.Ordinal);
        var all = graph.Nodes.Where(n => n.Op is OpKind.Conv or OpKind.Gemm && n.InputOrNull(1) is { } w && parameters.Contains(w)).ToList();
        if (!options.PruneClassifier && all.Count > 0) all.RemoveAt(all.Count - 1);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return all.Where(n => !options.Exclude.Any(p => Pruner.Matches(n.Name, p) || Pruner.Matches(n.Inputs[1], p)) && seen.Add(n.Inputs[1]))
            .Select(n => new PrunableWeight(n, n.Inputs[1])).ToList();
    }

    /// <summary>
    /// Masks reaching <see cref="SparsityOptions.Sparsity"/> over the considered weights (exactly round(s·n) zeros per
    /// layer, or over all of them with a global scope). Weights pruned by <paramref name="previous"/> stay pruned, so
    /// the masks of a schedule only grow.
    /// </summary>
    /// <exception cref="SecateurException">BadArgument for invalid options or when no weight is left to prune.</exception>
    public static WeightMasks Masks(ModelGraph graph, SparsityOptions options, WeightMasks? previous = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        var weights = Weights(graph, options);
        if (weights.Count == 0) throw new SecateurException(ErrorCode.BadArgument, "no Conv or Gemm weight is left to prune (all excluded?)");
        if (options.Nm is { } nm) return NmSparsity.Masks(graph, weights, nm);
        var scores = weights.Select(w => Score(graph.Initializers[w.Weight].Floats, options.Criterion, previous?.Keep.GetValueOrDefault(w.Weight))).ToList();
        var keep = scores.Select(s => Enumerable.Repeat(true, s.Length).ToArray()).ToList();
        if (options.Scope == SparsityScope.Layer)
        {
            for (int l = 0; l < scores.Count; l++)
                foreach (var i in Lowest(scores[l], (long)Math.Round(options.Sparsity * scores[l].Length)))
                    keep[l][i] = false;
        }
        else
        {
            // One ranking across layers: concatenate, cut the lowest, map back by offsets.
            var offsets = new long[scores.Count + 1];
            for (int l = 0; l < scores.Count; l++) offsets[l + 1] = offsets[l] + scores[l].Length;
            var all = new float[offsets[^1]];
            for (int l = 0; l < scores.Count; l++) scores[l].CopyTo(all, offsets[l]);
            foreach (var i in Lowest(all, (long)Math.Round(options.Sparsity * all.LongLength)))
            {
                int l = Array.BinarySearch(offsets, (long)i);
                if (l < 0) l = ~l - 1;
                while (l + 1 < offsets.Length && offsets[l + 1] == i) l++; // skip empty layers at the boundary
                keep[l][i - offsets[l]] = false;
            }
        }
        var masks = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        for (int l = 0; l < weights.Count; l++) masks[weights[l].Weight] = keep[l];
        return new WeightMasks(masks).Intersect(previous);
    }

    /// <summary>Scores of one layer's weights; already pruned weights score −1, below every real score.</summary>
    internal static float[] Score(float[] w, WeightCriterion criterion, bool[]? keep)
    {
        var s = new float[w.Length];
        if (criterion == WeightCriterion.Magnitude)
        {
            for (int i = 0; i < w.Length; i++) s[i] = Math.Abs(w[i]);
        }
        else
        {
            // LAMP: sort w² ascending; score(u) = w²(u) / Σ_{v ≥ u} w²(v), the suffix sum in sorted order.
            var sq = new float[w.Length];
            var order = new int[w.Length];
            for (int i = 0; i < w.Length; i++) { sq[i] = (keep is null || keep[i]) ? w[i] * w[i] : 0f; order[i] = i; }
            var keys = (float[])sq.Clone();
            Array.Sort(keys, order);
            double suffix = 0;
            for (int u = w.Length - 1; u >= 0; u--)
            {
                suffix += keys[u];
                s[order[u]] = suffix > 0 ? (float)(keys[u] / suffix) : 0f;
            }
        }
        if (keep is not null)
            for (int i = 0; i < w.Length; i++)
                if (!keep[i]) s[i] = -1f;
        return s;
    }

    /// <summary>Indices of the <paramref name="count"/> lowest scores (ties broken deterministically, by the sort).</summary>
    internal static IEnumerable<int> Lowest(float[] scores, long count)
    {
        if (count <= 0) return [];
        var order = new int[scores.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort((float[])scores.Clone(), order);
        return order.Take((int)Math.Min(count, scores.Length));
    }
}
