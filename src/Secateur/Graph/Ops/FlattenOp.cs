namespace Secateur.Graph.Ops;

/// <summary>ONNX Flatten at <c>axis</c> (default 1); at axis 1 each channel becomes H·W consecutive features.</summary>
internal sealed class FlattenOp() : OpDefinition(OpKind.Flatten)
{
    public override bool IsQuantizationPassThrough => true;

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        int axis = Axis(node, node.Int("axis", 1), x.Length + 1);
        return [Product(x.Take(axis)), Product(x.Skip(axis))];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var shape = shapes[node.Inputs[0]];
        return node.Int("axis", 1) == 1 && shape.Length >= 2
            ? new ChannelRule.Flatten(Product(shape.Skip(2)))
            : new ChannelRule.Block($"'{node.Name}' flattens across the batch or channel axis", $"'{node.Name}' flattens across the channel axis");
    }
}
