namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX PRelu: X, slope, the slope a trainable parameter broadcast to X (PyTorch's <c>nn.PReLU(C)</c> exports it as
/// (C, 1, 1), <c>nn.PReLU()</c> as one value). Channels pass through; a per-channel slope loses the same channels,
/// so pruning slices it. A slope of any other shape ties values Secateur does not follow, and blocks.
/// </summary>
internal sealed class PReluOp() : OpDefinition(OpKind.PRelu, 2, 2)
{
    public override void Validate(Node node, ModelGraph graph) => RequireInitializerWeights(node, graph);

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var slope = Required(node, inputs, 1);
        // The slope broadcasts to X, never the other way (unidirectional broadcasting).
        var y = ShapeInference.Broadcast(node, x, slope);
        if (!y.SequenceEqual(x)) throw Fail(node, $"slope of shape {TensorData.FormatShape(slope)} does not broadcast to the input's {TensorData.FormatShape(x)}");
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var x = shapes[node.Inputs[0]];
        var slope = graph.Initializers[node.Inputs[1]].Shape;
        if (TensorData.ElementCount(slope) == 1) return ChannelRule.PassThrough.Elementwise;
        // Aligned from the right, the slope's channel axis is where X's axis 1 lands.
        int axis = slope.Length - (x.Length - 1);
        if (x.Length >= 2 && axis >= 0 && slope[axis] == x[1] && slope.Where((d, i) => i != axis).All(d => d == 1))
            return new ChannelRule.PassThrough([new ChannelTensor(node.Inputs[1], axis)]);
        return new ChannelRule.Block($"'{node.Name}' (PRelu) has a slope of shape {TensorData.FormatShape(slope)}, not one per channel");
    }
}
