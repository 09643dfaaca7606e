namespace Secateur.Graph.Ops;

/// <summary>
/// The shared shape of ONNX's variadic elementwise ops (Sum, Max, Min): one or more inputs broadcast together
/// (numpy rules); like Add, aligned channels of every operand are tied and a per-channel constant loses them too.
/// </summary>
internal abstract class VariadicElementwiseOp(OpKind kind) : OpDefinition(kind, 1, int.MaxValue)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var shape = First(node, inputs);
        for (int i = 1; i < inputs.Length; i++) shape = ShapeInference.Broadcast(node, shape, Required(node, inputs, i));
        return shape;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        node.Inputs.Count(i => i.Length > 0) == 1 ? ChannelRule.PassThrough.Elementwise : new ChannelRule.Combine();

    /// <summary>Max with a scalar constant c &gt; 0, Min with c &lt; 0, Sum with c ≠ 0 map 0 to c (a per-channel constant is zeroed with its channel).</summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph)
    {
        if (node.Inputs.Count(i => i.Length > 0) < 2) return null;
        var constants = node.Inputs.Where(i => i.Length > 0).Select(i => graph.Initializers.GetValueOrDefault(i)).Where(t => t is { Type: ElementType.Float, Count: 1 }).Select(t => t!.Floats[0]).ToList();
        if (constants.Count == 0) return null;
        float v = Kind == OpKind.Sum ? constants.Sum() : Kind == OpKind.Max ? Math.Max(0, constants.Max()) : Math.Min(0, constants.Min());
        return v != 0 ? $"{v:G6}" : null;
    }
}
