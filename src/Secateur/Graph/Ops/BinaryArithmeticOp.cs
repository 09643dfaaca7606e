namespace Secateur.Graph.Ops;

/// <summary>The shared shape of broadcasting binary arithmetic (Add, Sub, Mul, Div): numpy broadcast, channels combined.</summary>
internal abstract class BinaryArithmeticOp(OpKind kind) : OpDefinition(kind, 2, 2)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant) =>
        ShapeInference.Broadcast(node, First(node, inputs), Required(node, inputs, 1));

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        Kind == OpKind.Div && graph.IsInitializer(node.Inputs[0]) && !graph.IsInitializer(node.Inputs[1])
            ? new ChannelRule.Block($"'{node.Name}' (Div) divides a constant by the channels, which maps 0 to infinity")
            : new ChannelRule.Combine();

    /// <summary>
    /// x + c and x − c (c − x) with a scalar constant c ≠ 0 map 0 to ±c; a per-channel constant is zeroed with its channel,
    /// and Mul or Div by a constant keeps 0.
    /// </summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph) =>
        Kind is OpKind.Add or OpKind.Sub ? ScalarConstant(node, graph) is { } c && c != 0 ? $"{(Kind == OpKind.Sub && graph.IsInitializer(node.Inputs[1]) ? -c : c):G6}" : null
        : null;

    /// <summary>The value of a scalar constant operand, if the node has one.</summary>
    internal static float? ScalarConstant(Node node, ModelGraph graph) =>
        node.Inputs.Select(i => graph.Initializers.GetValueOrDefault(i)).FirstOrDefault(t => t is { Type: ElementType.Float, Count: 1 }) is { } t ? t.Floats[0] : null;
}
