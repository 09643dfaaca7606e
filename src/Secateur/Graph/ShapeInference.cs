using Secateur.Graph.Ops;

namespace Secateur.Graph;

/// <summary>
/// Computes the concrete shape of every value in a <see cref="ModelGraph"/> for a given batch size, asking each
/// node's <see cref="OpDefinition"/> for its output shape. Inconsistent shapes (a conv whose weight does not
/// match its input channels, say) are reported as <see cref="ErrorCode.InvalidGraph"/> naming the node.
/// </summary>
public static class ShapeInference
{
    /// <summary>Shapes of all values (graph inputs, initializers and node outputs) by name.</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="batch">Size substituted for symbolic dimensions of the inputs.</param>
    /// <param name="inputShapes">Optional concrete shapes per input name overriding the signatures.</param>
    public static Dictionary<string, long[]> Infer(ModelGraph graph, long batch = 1, IReadOnlyDictionary<string, long[]>? inputShapes = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
            shapes[i.Name] = inputShapes is not null && inputShapes.TryGetValue(i.Name, out var s) ? s : i.Concrete(batch);
        foreach (var kv in graph.Initializers) shapes[kv.Key] = kv.Value.Shape;
        foreach (var node in graph.Nodes)
        {
            var ins = new long[node.Inputs.Count][];
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                if (node.Inputs[k].Length == 0) { ins[k] = []; continue; }
                if (!shapes.TryGetValue(node.Inputs[k], out var shape))
                    throw OpDefinition.Fail(node, $"input '{node.Inputs[k]}' is not defined before it is used");
                ins[k] = shape;
            }
            shapes[node.Output] = OutputShape(node, ins, name => graph.Initializers.GetValueOrDefault(name));
        }
        return shapes;
    }

    /// <summary>
    /// The output shape of one node given its input shapes; <paramref name="constant"/> looks up the constant
    /// operands some ops need (Reshape's shape, Slice's ranges, Pad's pads).
    /// </summary>
    internal static long[] OutputShape(Node node, long[][] ins, Func<string, TensorData?> constant) =>
        OpRegistry.For(node).InferShape(node, ins, constant);

    /// <summary>Numpy-style broadcast of two shapes.</summary>
    internal static long[] Broadcast(Node node, long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            long db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw OpDefinition.Fail(node, $"shapes {TensorData.FormatShape(a)} and {TensorData.FormatShape(b)} do not broadcast");
            r[i] = Math.Max(da, db);
        }
        return r;
    }
}
