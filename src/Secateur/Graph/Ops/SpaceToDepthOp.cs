namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX SpaceToDepth: (N, C, H, W) → (N, C·r², H/r, W/r), attribute blocksize r; output channel k·C + c is the k-th
/// pixel of each r×r block of input channel c.
/// </summary>
/// <remarks>
/// Channel rule: blocked. Each input channel becomes r² output channels (strided by C), so a consumer's r² input
/// columns per channel would have to go together, a tie the dependency graph does not express yet.
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
        new ChannelRule.Block($"'{node.Name}' (SpaceToDepth) spreads each channel over {DepthToSpaceOp.BlockSize(node) * DepthToSpaceOp.BlockSize(node)} output channels, a tie Secateur does not follow yet");
}
