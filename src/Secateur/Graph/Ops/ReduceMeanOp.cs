namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX ReduceMean over the axes of attribute <c>axes</c> (the form of opsets up to 17; opset 18 files' axes input
/// becomes the attribute at import), keepdims default 1. The importer turns a mean over all spatial axes into
/// GlobalAveragePool; this op is every other mean, such as the written-out LayerNorm's mean over channels.
/// Channels pass through a mean that leaves the batch and channel axes alone; a mean across channels blocks them.
/// </summary>
internal sealed class ReduceMeanOp() : OpDefinition(OpKind.ReduceMean)
{
    /// <summary>The opset that moved axes from an attribute to an input: the exporter writes them as one from here on.</summary>
    internal const int AxesInputOpset = 18;

    public override void Validate(Node node, ModelGraph graph)
    {
        if (node.Ints("axes") is not { Count: > 0 }) throw Fail(node, "needs its axes as an attribute");
    }

    /// <summary>The reduced axes of <paramref name="node"/>, non-negative and sorted.</summary>
    internal static int[] Axes(Node node, int rank) =>
        (node.Ints("axes") ?? throw Fail(node, "has no axes")).Select(a => Axis(node, a, rank)).Distinct().Order().ToArray();

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var axes = Axes(node, x.Length);
        bool keep = node.Int("keepdims", 1) != 0;
        return x.Select((d, i) => axes.Contains(i) ? keep ? 1L : -1L : d).Where(d => d >= 0).ToArray();
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var axes = Axes(node, shapes[node.Inputs[0]].Length);
        return new ChannelRule.SpatialOnly(axes.Any(a => a <= 1) ? $"'{node.Name}' (ReduceMean) averages across the batch or channel axis" : null);
    }
}
