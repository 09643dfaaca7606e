namespace Secateur.Graph.Ops;

/// <summary>The shared shape of broadcasting binary arithmetic (Add, Sub, Mul, Div): numpy broadcast, channels combined.</summary>
internal abstract class BinaryArithmeticOp(OpKind kind) : OpDefinition(kind, 2, 2)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant) =>
        ShapeInference.Broadcast(node, First(node, inputs), Required(node, inputs, 1));

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) => new ChannelRule.Combine();
}
