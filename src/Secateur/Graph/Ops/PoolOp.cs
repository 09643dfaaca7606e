namespace Secateur.Graph.Ops;

/// <summary>The shared shape of windowed pooling (MaxPool, AveragePool): kernel_shape required, channels pass through.</summary>
internal abstract class PoolOp(OpKind kind) : OpDefinition(kind)
{
    public override void Validate(Node node, ModelGraph graph)
    {
        if (node.Ints("kernel_shape") is null)
            throw new SecateurException(ErrorCode.InvalidGraph, $"node '{node.Name}' ({node.Op}) has no kernel_shape");
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        var kernel = node.Ints("kernel_shape")?.ToArray() ?? throw Fail(node, "kernel_shape is required");
        if (kernel.Length != x.Length - 2) throw Fail(node, $"kernel_shape has {kernel.Length} values, expected {x.Length - 2}");
        return [x[0], x[1], .. ConvGeometry.Of(node, x, kernel).OutputSpatial(node, x, ceil: node.Int("ceil_mode", 0) != 0)];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        ChannelRule.PassThrough.Plain;
}
