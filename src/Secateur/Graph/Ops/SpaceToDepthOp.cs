namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX SpaceToDepth: (N, C, H, W) → (N, C·r², H/r, W/r), attribute blocksize r; output channel k·C + c is the k-th
/// pixel of each r×r block of input channel c.
/// </summary>
/// <remarks>
/// Channel rule: each input channel becomes r² output channels (strided by C), so removing an input channel removes
/// those r² input columns of every consumer.
/// </remarks>
internal sealed class SpaceToDepthOp() : OpDefinition(OpKind.SpaceToDepth)
{
    public override void Validate(Node node, ModelGraph graph) => DepthToSpaceOp.BlockSize(node);

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        long r = DepthToSpaceOp.BlockSize(node);
        if (x.Length != 4 || x[2] % r != 0 || x[3] % r != 0) throw Fail(node, $"input {TensorData.FormatShape(x)} is not (N, C, H·{r}, W·{r})");
        return [x[0], x[1] * r * r, x[2] / r, x[3] / r];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.SpaceToDepth(DepthToSpaceOp.BlockSize(node) * DepthToSpaceOp.BlockSize(node));
}
