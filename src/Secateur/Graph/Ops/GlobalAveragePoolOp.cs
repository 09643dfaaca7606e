namespace Secateur.Graph.Ops;

/// <summary>ONNX GlobalAveragePool: every spatial axis averaged to 1; channels pass through.</summary>
internal sealed class GlobalAveragePoolOp() : OpDefinition(OpKind.GlobalAveragePool)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        return [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        ChannelRule.PassThrough.Plain;
}
