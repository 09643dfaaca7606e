using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Analysis;

/// <summary>One row of a per-layer table: a node with its output shape, parameters and multiply-accumulates.</summary>
public sealed record LayerStats(string Name, OpKind Op, long[] OutputShape, long Params, long Macs);

/// <summary>Per-layer and total parameters and MACs of a graph for one input image.</summary>
public sealed record ModelStats(IReadOnlyList<LayerStats> Layers, long Params, long Macs)
{
    /// <summary>
    /// The counting convention, stated once: parameters are the elements of trainable tensors (weights,
    /// biases, batch-norm scale and shift; not running statistics); MACs are the multiply-accumulates of
    /// Conv, Gemm and MatMul for a batch of one (no bias adds, normalisation, activations or pooling).
    /// </summary>
    public const string Convention = "params: trainable tensor elements (BN running stats excluded); MACs: Conv + Gemm/Linear + MatMul multiply-accumulates per image";

    /// <summary>Computes the statistics of <paramref name="graph"/> at batch size 1.</summary>
    public static ModelStats Compute(ModelGraph graph, IReadOnlyDictionary<string, long[]>? inputShapes = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var shapes = ShapeInference.Infer(graph, 1, inputShapes);
        var parameters = graph.ParameterNames().ToHashSet(StringComparer.Ordinal);
        var counted = new HashSet<string>(StringComparer.Ordinal);
        var rows = new List<LayerStats>(graph.Nodes.Count);
        foreach (var node in graph.Nodes)
        {
            long p = 0;
            // A tensor shared by two nodes is counted once, at its first use.
            foreach (var i in node.Inputs.Where(i => parameters.Contains(i) && counted.Add(i)))
                p += graph.Initializers[i].Count;
            rows.Add(new LayerStats(node.Name, node.Op, shapes[node.Output], p, NodeMacs(node, shapes)));
        }
        return new ModelStats(rows, rows.Sum(r => r.Params), rows.Sum(r => r.Macs));
    }

    /// <summary>Multiply-accumulates of one node per the <see cref="Convention"/>.</summary>
    public static long NodeMacs(Node node, IReadOnlyDictionary<string, long[]> shapes)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(shapes);
        return OpRegistry.For(node).Macs(node, shapes);
    }
}
