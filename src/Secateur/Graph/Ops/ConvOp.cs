namespace Secateur.Graph.Ops;

/// <summary>ONNX Conv: X, W[, B]. Produces channels (grouped or not) or follows them (depthwise).</summary>
internal sealed class ConvOp() : WeightedLayerOp(OpKind.Conv)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var w = Required(node, inputs, 1);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3 (N, C, spatial...)");
        if (w.Length != x.Length) throw Fail(node, $"weight has rank {w.Length}, input has rank {x.Length}");
        long group = node.Int("group", 1);
        if (group < 1 || x[1] % group != 0 || w[0] % group != 0)
            throw Fail(node, $"group {group} does not divide input channels {x[1]} and output channels {w[0]}");
        if (w[1] * group != x[1])
            throw Fail(node, $"weight expects {w[1] * group} input channels (shape {TensorData.FormatShape(w)}, group {group}), input has {x[1]}");
        var kernel = w[2..];
        if (node.Ints("kernel_shape") is { } ks && !ks.SequenceEqual(kernel))
            throw Fail(node, $"kernel_shape [{string.Join(",", ks)}] does not match weight shape {TensorData.FormatShape(w)}");
        return [x[0], w[0], .. ConvGeometry.Of(node, x, kernel).OutputSpatial(node, x)];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var w = node.Inputs[1];
        var wShape = shapes[w];
        long group = node.Int("group", 1);
        long cin = shapes[node.Inputs[0]][1];
        var bias = node.InputOrNull(2);
        // Depthwise: filter j reads and writes channel j, so output channels are the input's.
        if (group > 1 && group == cin && wShape[0] == cin)
            return new ChannelRule.PassThrough(bias is null ? [new(w, 0)] : [new(w, 0), new(bias, 0)]);
        // Other grouped convolutions (ResNeXt, RegNet) produce channels like a dense one, under the equal-blocks rule.
        return new ChannelRule.Layer(new(w, 1), ReadsFlattened: false, wShape[0],
            bias is null ? [new(w, 0)] : [new(w, 0), new(bias, 0)], Groups: group);
    }

    // Only a depthwise convolution's group count changes: its filters are its channels, so losing channels loses
    // groups (filters (C', 1, k, k) with C' below the group count). Any other grouped convolution loses the same
    // number of channels in every group (or none), so its group count stays; recomputing it from the filter count,
    // as before, rewrote an untouched ResNeXt convolution with 128 groups into one with 512 even at ratio 0.
    public override Node RewriteAfterPruning(Node node, ModelGraph pruned)
    {
        long group = node.Int("group", 1);
        if (group <= 1) return node;
        var w = pruned.Initializers[node.Inputs[1]].Shape;
        if (w[1] != 1 || w[0] >= group) return node;
        var attrs = node.Attributes.ToDictionary(k => k.Key, k => k.Value);
        attrs["group"] = AttributeValue.Of(w[0]);
        return node.With(attributes: attrs);
    }

    public override long Macs(Node node, IReadOnlyDictionary<string, long[]> shapes)
    {
        var output = shapes[node.Output];
        var w = shapes[node.Inputs[1]]; // (Cout, Cin/group, kH, kW)
        return TensorData.ElementCount(output) / Math.Max(1, output[0]) * Product(w.Skip(1));
    }

    public override bool IsQuantizable(ModelGraph graph, Node node) =>
        node.Inputs.Count >= 2 && graph.IsInitializer(node.Inputs[1]) && !graph.IsInitializer(node.Inputs[0])
        && (node.InputOrNull(2) is null || graph.IsInitializer(node.Inputs[2]));
}
