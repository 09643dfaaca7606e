namespace Secateur.Graph.Ops;

/// <summary>ONNX GlobalMaxPool: every spatial axis reduced to 1 by its maximum; each channel on its own, so channels pass through.</summary>
internal sealed class GlobalMaxPoolOp() : OpDefinition(OpKind.GlobalMaxPool)
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
