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
}
