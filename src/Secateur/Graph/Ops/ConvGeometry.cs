namespace Secateur.Graph.Ops;

/// <summary>
/// The window geometry of a Conv or pooling node, parsed once from its attributes (strides, dilations, explicit
/// or <c>auto_pad</c> pads, group) against its input and kernel shapes, and shared by shape inference, the
/// runtime kernels and the reconstruction criterion so that all three agree on ONNX's padding rules.
/// </summary>
/// <param name="Kernel">Window size per spatial axis.</param>
/// <param name="Strides">Stride per spatial axis.</param>
/// <param name="Dilations">Dilation per spatial axis.</param>
/// <param name="PadsBegin">Padding before each spatial axis.</param>
/// <param name="PadsEnd">Padding after each spatial axis (ONNX allows it to differ from <paramref name="PadsBegin"/>).</param>
/// <param name="Group">Conv's group count (1 for pooling).</param>
public sealed record ConvGeometry(long[] Kernel, long[] Strides, long[] Dilations, long[] PadsBegin, long[] PadsEnd, long Group)
{
    /// <summary>True when both ends of every axis get the same padding, which is what libtorch's kernels pad.</summary>
    public bool SymmetricPads => PadsBegin.SequenceEqual(PadsEnd);

    /// <summary>The geometry of <paramref name="node"/> reading an input of shape <paramref name="input"/> (N, C, spatial...) with window <paramref name="kernel"/>.</summary>
    /// <exception cref="SecateurException">InvalidGraph when an attribute has the wrong length or auto_pad is unknown.</exception>
    public static ConvGeometry Of(Node node, IReadOnlyList<long> input, IReadOnlyList<long> kernel)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(kernel);
        int n = input.Count - 2;
        var k = kernel.ToArray();
        var strides = Spatial(node, "strides", n);
        var dilations = Spatial(node, "dilations", n);
        var (begin, end) = Pads(node, input.Skip(2).ToArray(), k, strides, dilations);
        return new ConvGeometry(k, strides, dilations, begin, end, node.Int("group", 1));
    }

    /// <summary>The output size of every spatial axis for <paramref name="input"/>; <paramref name="ceil"/> is pooling's ceil_mode.</summary>
    public long[] OutputSpatial(Node node, IReadOnlyList<long> input, bool ceil = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(input);
        var result = new long[Kernel.Length];
        for (int i = 0; i < result.Length; i++)
        {
            long padded = input[i + 2] + PadsBegin[i] + PadsEnd[i];
            long span = padded - Dilations[i] * (Kernel[i] - 1) - 1;
            if (span < 0) throw OpDefinition.Fail(node, $"kernel {Kernel[i]} (dilation {Dilations[i]}) is larger than the padded input {padded}");
            long o = ceil ? (span + Strides[i] - 1) / Strides[i] + 1 : span / Strides[i] + 1;
            // As in PyTorch and ONNX: with ceil_mode the last window must start inside the input or left padding.
            if (ceil && (o - 1) * Strides[i] >= input[i + 2] + PadsBegin[i]) o--;
            result[i] = o;
        }
        return result;
    }

    private static long[] Spatial(Node node, string attr, int n)
    {
        var v = node.Ints(attr);
        if (v is null) return Enumerable.Repeat(1L, n).ToArray();
        if (v.Count != n) throw OpDefinition.Fail(node, $"{attr} has {v.Count} values, expected {n}");
        return [.. v];
    }

    /// <summary>Explicit begin/end pads per spatial axis, resolving auto_pad.</summary>
    private static (long[] Begin, long[] End) Pads(Node node, long[] spatial, long[] kernel, long[] strides, long[] dilations)
    {
        int n = spatial.Length;
        var begin = new long[n];
        var end = new long[n];
        var autoPad = node.String("auto_pad", "NOTSET");
        if (autoPad is "NOTSET" or "")
        {
            var pads = node.Ints("pads");
            if (pads is not null)
            {
                if (pads.Count != 2 * n) throw OpDefinition.Fail(node, $"pads has {pads.Count} values, expected {2 * n}");
                for (int i = 0; i < n; i++) { begin[i] = pads[i]; end[i] = pads[i + n]; }
            }
        }
        else if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            for (int i = 0; i < n; i++)
            {
                long outSize = (spatial[i] + strides[i] - 1) / strides[i];
                long total = Math.Max(0, (outSize - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i]);
                long small = total / 2, big = total - small;
                (begin[i], end[i]) = autoPad == "SAME_UPPER" ? (small, big) : (big, small);
            }
        }
        else if (autoPad != "VALID") throw OpDefinition.Fail(node, $"auto_pad '{autoPad}' is not valid");
        return (begin, end);
    }
}
