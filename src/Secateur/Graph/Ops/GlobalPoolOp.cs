namespace Secateur.Graph.Ops;

/// <summary>
/// The global poolings: every spatial axis reduced to 1, each channel on its own, so channels pass through.
/// Only the reduction (the kernel) tells them apart.
/// </summary>
internal abstract class GlobalPoolOp(OpKind kind) : OpDefinition(kind)
{
    public sealed override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        return [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)];
    }

    public sealed override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        ChannelRule.PassThrough.Plain;
}
