namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX InstanceNormalization: X, scale, B, each channel normalised over its own spatial values. Removing a
/// channel leaves every other channel's statistics as they were, so channels pass through and scale and B lose the
/// same entries (a zeroed channel with zeroed scale and B gives 0, the same as a removed one).
/// </summary>
internal sealed class InstanceNormalizationOp() : OpDefinition(OpKind.InstanceNormalization, 3, 3)
{
    public override void Validate(Node node, ModelGraph graph) => RequireInitializerWeights(node, graph);

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        for (int i = 1; i <= 2; i++)
        {
            var p = Required(node, inputs, i);
            if (p.Length != 1 || p[0] != x[1])
                throw Fail(node, $"parameter '{node.Inputs[i]}' has shape {TensorData.FormatShape(p)}, expected {x[1]} (the input's channels)");
        }
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.PassThrough([new ChannelTensor(node.Inputs[1], 0), new ChannelTensor(node.Inputs[2], 0)]);
}
