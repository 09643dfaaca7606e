using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Pruning.Unstructured;

/// <summary>Non-zeros of one weight tensor.</summary>
/// <param name="Layer">Node name (Conv or Gemm).</param>
/// <param name="Weight">Weight initializer name.</param>
/// <param name="Count">Elements.</param>
/// <param name="NonZero">Elements that are not zero.</param>
public sealed record LayerSparsity(string Layer, string Weight, long Count, long NonZero)
{
    /// <summary>Fraction of zeros.</summary>
    public double Sparsity => Count == 0 ? 0 : 1 - NonZero / (double)Count;
}

/// <summary>How sparse a graph is: per considered layer and over all parameters.</summary>
/// <param name="Layers">Every Conv and Gemm weight, in graph order.</param>
/// <param name="Params">Parameter elements (as <see cref="ModelGraph.ParameterCount"/>).</param>
/// <param name="NonZeroParams">Parameter elements that are not zero.</param>
public sealed record SparsityReport(IReadOnlyList<LayerSparsity> Layers, long Params, long NonZeroParams)
{
    /// <summary>Fraction of all parameters that are zero.</summary>
    public double Sparsity => Params == 0 ? 0 : 1 - NonZeroParams / (double)Params;

    /// <summary>Params ÷ non-zero params.</summary>
    public double Compression => Params / (double)Math.Max(1, NonZeroParams);

    /// <summary>Fraction of zeros over the Conv and Gemm weights only.</summary>
    public double WeightSparsity
    {
        get
        {
            long n = Layers.Sum(l => l.Count);
            return n == 0 ? 0 : 1 - Layers.Sum(l => l.NonZero) / (double)n;
        }
    }

    /// <summary>Counts the zeros of <paramref name="graph"/> (exact comparison with 0).</summary>
    public static SparsityReport Compute(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var layers = new List<LayerSparsity>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes.Where(n => OpRegistry.For(n).IsWeightedLayer))
            if (n.InputOrNull(1) is { } w && graph.Initializers.TryGetValue(w, out var t) && t.Type == ElementType.Float && seen.Add(w))
                layers.Add(new LayerSparsity(n.Name, w, t.Count, NonZero(t)));
        long parameters = 0, nonZero = 0;
        foreach (var name in graph.ParameterNames())
        {
            var t = graph.Initializers[name];
            parameters += t.Count;
            nonZero += NonZero(t);
        }
        return new SparsityReport(layers, parameters, nonZero);
    }

    private static long NonZero(TensorData t)
    {
        long n = 0;
        foreach (var v in t.Floats) if (v != 0f) n++;
        return n;
    }
}
