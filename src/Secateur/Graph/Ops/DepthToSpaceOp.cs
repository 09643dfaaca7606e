namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX DepthToSpace (PixelShuffle): (N, C·r², H, W) → (N, C, H·r, W·r), attribute blocksize r, mode DCR (default;
/// input channel k·C + c goes to output channel c) or CRD (channel c·r² + k, PyTorch's PixelShuffle).
/// </summary>
/// <remarks>
/// Channel rule: one output channel is made of r² input channels, so removing an output channel removes those r²
/// input channels together (strided by the output's channel count in DCR, consecutive in CRD) from the layers that
/// produce them; removing fewer would reshuffle every later pixel.
/// </remarks>
internal sealed class DepthToSpaceOp() : OpDefinition(OpKind.DepthToSpace)
{
    /// <summary>The block size of a DepthToSpace or SpaceToDepth node.</summary>
    internal static long BlockSize(Node node) =>
        node.Int("blocksize", 0) is > 0 and var r ? r : throw Fail(node, "blocksize must be a positive integer");

    public override void Validate(Node node, ModelGraph graph)
    {
        BlockSize(node);
        if (node.String("mode", "DCR") is not ("DCR" or "CRD")) throw Fail(node, $"mode '{node.String("mode", "DCR")}' is neither DCR nor CRD");
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        long r = BlockSize(node);
        if (x.Length != 4 || x[1] % (r * r) != 0) throw Fail(node, $"input {TensorData.FormatShape(x)} is not (N, C·{r * r}, H, W)");
        return [x[0], x[1] / (r * r), x[2] * r, x[3] * r];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.DepthToSpace(BlockSize(node) * BlockSize(node), node.String("mode", "DCR") == "CRD");
}
