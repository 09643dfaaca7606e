namespace Secateur.Graph.Ops;

/// <summary>ONNX BatchNormalization: X, scale, B, mean, var. Channels pass through; all four vectors follow them.</summary>
internal sealed class BatchNormalizationOp() : OpDefinition(OpKind.BatchNormalization, 5, 5)
{
    public override bool IsRunningStatistic(int index) => index is 3 or 4;

    public override void Validate(Node node, ModelGraph graph) => RequireInitializerWeights(node, graph);

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 2) throw Fail(node, $"input has rank {x.Length}, expected at least 2");
        for (int i = 1; i <= 4; i++)
        {
            var p = Required(node, inputs, i);
            if (p.Length != 1 || p[0] != x[1])
                throw Fail(node, $"parameter '{node.Inputs[i]}' has shape {TensorData.FormatShape(p)}, expected {x[1]} (the input's channels)");
        }
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.PassThrough(node.Inputs.Skip(1).Select(p => new ChannelTensor(p, 0)).ToList());
}
