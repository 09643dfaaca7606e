namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX ConvTranspose: X, W[, B] with W laid out (Cin, Cout/group, kernel...) — the transpose of Conv's, so it
/// consumes channels on weight axis 0 and produces them on axis 1. Group 1 is a prunable layer; a depthwise
/// transposed convolution passes channels through; other groups are blocked (their channels are tied across groups).
/// </summary>
internal sealed class ConvTransposeOp() : WeightedLayerOp(OpKind.ConvTranspose)
{
    /// <summary>The resolved window geometry of one ConvTranspose node, shared by shape inference and the kernel.</summary>
    /// <param name="Strides">Stride per spatial axis.</param>
    /// <param name="Dilations">Dilation per spatial axis.</param>
    /// <param name="PadsBegin">Output cropped at the start of each axis.</param>
    /// <param name="PadsEnd">Output cropped at the end of each axis.</param>
    /// <param name="OutputPadding">Extra output at the end of each axis.</param>
    /// <param name="Group">Group count.</param>
    /// <param name="Output">Output size per spatial axis.</param>
    internal sealed record Window(long[] Strides, long[] Dilations, long[] PadsBegin, long[] PadsEnd, long[] OutputPadding, long Group, long[] Output)
    {
        /// <summary>True when libtorch's kernel computes it directly: symmetric pads and output padding below stride or dilation.</summary>
        public bool Native => PadsBegin.SequenceEqual(PadsEnd)
            && OutputPadding.Select((p, i) => p < Math.Max(Strides[i], Dilations[i])).All(ok => ok);
    }

    /// <summary>The geometry of <paramref name="node"/> for input <paramref name="x"/> (N, Cin, spatial...) and weight <paramref name="w"/>.</summary>
    internal static Window Geometry(Node node, IReadOnlyList<long> x, IReadOnlyList<long> w)
    {
        int n = x.Count - 2;
        if (n < 1) throw Fail(node, $"input has rank {x.Count}, expected at least 3 (N, C, spatial...)");
        if (w.Count != x.Count) throw Fail(node, $"weight has rank {w.Count}, input has rank {x.Count}");
        long[] Spatial(string attr, long fallback)
        {
            var v = node.Ints(attr);
            if (v is null) return Enumerable.Repeat(fallback, n).ToArray();
            return v.Count == n ? [.. v] : throw Fail(node, $"{attr} has {v.Count} values, expected {n}");
        }
        var kernel = w.Skip(2).ToArray();
        if (node.Ints("kernel_shape") is { } ks && !ks.SequenceEqual(kernel))
            throw Fail(node, $"kernel_shape [{string.Join(",", ks)}] does not match weight shape {TensorData.FormatShape([.. w])}");
        var strides = Spatial("strides", 1);
        var dilations = Spatial("dilations", 1);
        var outputPadding = Spatial("output_padding", 0);
        var begin = new long[n];
        var end = new long[n];
        // The output before any cropping: every position some input pixel writes to.
        long Full(int i) => strides[i] * (x[i + 2] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1;
        var autoPad = node.String("auto_pad", "NOTSET");
        var outputShape = node.Ints("output_shape");
        if (outputShape is not null || autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            if (outputShape is not null && outputShape.Count != n) throw Fail(node, $"output_shape has {outputShape.Count} values, expected {n}");
            for (int i = 0; i < n; i++)
            {
                long target = outputShape is not null ? outputShape[i] : x[i + 2] * strides[i];
                long total = Full(i) - target;
                // ONNX and ONNX Runtime versions disagree on which end gets the odd element; only the even case is unambiguous.
                if (total < 0 || total % 2 != 0)
                    throw new SecateurException(ErrorCode.UnsupportedOp,
                        $"node '{node.Name}' (ConvTranspose): {(outputShape is not null ? "output_shape" : "auto_pad")} needs total padding {total} on axis {i}; Secateur supports an even, non-negative one");
                begin[i] = end[i] = total / 2;
            }
        }
        else if (autoPad is "NOTSET" or "")
        {
            if (node.Ints("pads") is { } pads)
            {
                if (pads.Count != 2 * n) throw Fail(node, $"pads has {pads.Count} values, expected {2 * n}");
                for (int i = 0; i < n; i++) { begin[i] = pads[i]; end[i] = pads[i + n]; }
            }
        }
        else if (autoPad != "VALID") throw Fail(node, $"auto_pad '{autoPad}' is not valid");
        var output = new long[n];
        for (int i = 0; i < n; i++)
        {
            output[i] = Full(i) - begin[i] - end[i];
            if (output[i] <= 0) throw Fail(node, $"pads leave no output on spatial axis {i}");
        }
        return new Window(strides, dilations, begin, end, outputPadding, node.Int("group", 1), output);
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var w = Required(node, inputs, 1);
        var g = Geometry(node, x, w);
        if (g.Group < 1 || x[1] % g.Group != 0) throw Fail(node, $"group {g.Group} does not divide input channels {x[1]}");
        if (w[0] != x[1]) throw Fail(node, $"weight expects {w[0]} input channels (shape {TensorData.FormatShape(w)}), input has {x[1]}");
        return [x[0], w[1] * g.Group, .. g.Output];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var w = node.Inputs[1];
        var wShape = shapes[w]; // (Cin, Cout/group, kernel...)
        long group = node.Int("group", 1);
        var bias = node.InputOrNull(2);
        if (group == 1)
            return new ChannelRule.Layer(new(w, 0), ReadsFlattened: false, wShape[1],
                bias is null ? [new(w, 1)] : [new(w, 1), new(bias, 0)]);
        // Depthwise: filter j reads and writes channel j, and both are indexed on weight axis 0.
        if (group == wShape[0] && wShape[1] == 1)
            return new ChannelRule.PassThrough(bias is null ? [new(w, 0)] : [new(w, 0), new(bias, 0)]);
        return new ChannelRule.Block($"grouped transposed convolution '{node.Name}' (group {group}) ties channels across groups");
    }

    // A depthwise transposed convolution's group follows its channel count. Only a depthwise one can have lost
    // channels (other groups are blocked), and it is the one whose weight now has fewer filters than groups.
    public override Node RewriteAfterPruning(Node node, ModelGraph pruned)
    {
        var w = pruned.Initializers[node.Inputs[1]].Shape;
        if (node.Int("group", 1) <= 1 || w[1] != 1 || w[0] >= node.Int("group", 1)) return node;
        var attrs = node.Attributes.ToDictionary(k => k.Key, k => k.Value);
        attrs["group"] = AttributeValue.Of(pruned.Initializers[node.Inputs[1]].Shape[0]);
        return node.With(attributes: attrs);
    }

    // Every input pixel scatters one (Cout/group × kernel) block: Cin·H·W·(Cout/group)·kH·kW for a batch of one.
    public override long Macs(Node node, IReadOnlyDictionary<string, long[]> shapes)
    {
        var x = shapes[node.Inputs[0]];
        var w = shapes[node.Inputs[1]];
        return TensorData.ElementCount(x) / Math.Max(1, x[0]) * Product(w.Skip(1));
    }
}
