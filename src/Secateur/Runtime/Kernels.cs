using Secateur.Graph;
using Secateur.Graph.Ops;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Runtime;

/// <summary>What a kernel sees of one node's execution: the node, its input tensors, the module's mode and constants.</summary>
internal readonly struct KernelCall(GraphModule module, Node node, Dictionary<string, Tensor> values)
{
    /// <summary>The node being executed.</summary>
    public Node Node => node;

    /// <summary>True in training mode (batch statistics, dropout).</summary>
    public bool Training => module.training;

    /// <summary>True when convolutions and matrix products compute in bfloat16 (<see cref="Precision.BFloat16"/>).</summary>
    public bool BFloat16 => module.Precision == Precision.BFloat16;

    /// <summary>The module's batch-norm momentum override, if any.</summary>
    public double? BatchNormMomentum => module.BatchNormMomentum;

    /// <summary>Input <paramref name="i"/>, which must be present.</summary>
    public Tensor In(int i) => module.Value(values, node.Inputs[i]);

    /// <summary>Input <paramref name="i"/>, or null when omitted.</summary>
    public Tensor? Opt(int i) => node.InputOrNull(i) is { } name ? module.Value(values, name) : null;

    /// <summary>Every present input, in order.</summary>
    public Tensor[] Present()
    {
        var present = new List<Tensor>(node.Inputs.Count);
        foreach (var i in node.Inputs)
            if (i.Length > 0) present.Add(module.Value(values, i));
        return [.. present];
    }

    /// <summary>The graph's initializer <paramref name="name"/> as managed data (Reshape targets, Slice ranges, Pad amounts).</summary>
    public TensorData? Constant(string name) => module.Graph.Initializers.GetValueOrDefault(name);
}

/// <summary>
/// The TorchSharp kernel of every op, in one table keyed by <see cref="OpKind"/>: the runtime half of an op's
/// definition (the graph half, in <c>Graph/Ops</c>, must not know libtorch). <see cref="GraphModule"/> keeps the
/// execution order, the freeing of intermediates and the parameters.
/// </summary>
internal static class Kernels
{
    /// <summary>Computes one node's output.</summary>
    public delegate Tensor Kernel(KernelCall call);

    private static readonly Dictionary<OpKind, Kernel> Table = new()
    {
        [OpKind.Conv] = c => Mixed(c, (x, w, b) => Conv(c.Node, x, w!, b), c.In(0), c.In(1), c.Opt(2)),
        // ONNX momentum weighs the old statistic; PyTorch's weighs the new one.
        [OpKind.BatchNormalization] = c => F.batch_norm(c.In(0), c.In(3), c.In(4), c.In(1), c.In(2), c.Training,
            c.BatchNormMomentum ?? 1.0 - Exact(c.Node.Float("momentum", 0.9f)), Exact(c.Node.Float("epsilon", 1e-5f))),
        [OpKind.Relu] = c => F.relu(c.In(0)),
        [OpKind.Clip] = Clip,
        [OpKind.Sigmoid] = c => sigmoid(c.In(0)),
        [OpKind.HardSigmoid] = HardSigmoid,
        [OpKind.HardSwish] = c => F.hardswish(c.In(0)),
        // Not `+`: it passes a temporary alpha Scalar that the GC may finalise mid-call (see KeptScalars).
        [OpKind.Add] = c => c.In(0).add(c.In(1), KeptScalars.One),
        [OpKind.Sub] = c => c.In(0) - c.In(1),
        [OpKind.Mul] = c => c.In(0) * c.In(1),
        [OpKind.Div] = c => c.In(0) / c.In(1),
        [OpKind.Concat] = c => cat(c.Present(), c.Node.Int("axis", 1)),
        [OpKind.MaxPool] = c => Pool(c.Node, c.In(0), max: true),
        [OpKind.AveragePool] = c => Pool(c.Node, c.In(0), max: false),
        [OpKind.GlobalAveragePool] = c => c.In(0).mean(Enumerable.Range(2, (int)c.In(0).dim() - 2).Select(d => (long)d).ToArray(), keepdim: true),
        [OpKind.Flatten] = Flatten,
        [OpKind.Reshape] = Reshape,
        [OpKind.Gemm] = c => Mixed(c, (a, b, bias) => Gemm(c.Node, a, b!, bias), c.In(0), c.In(1), c.Opt(2)),
        [OpKind.MatMul] = c => Mixed(c, (a, b, _) => matmul(a, b!), c.In(0), c.In(1), null),
        [OpKind.Dropout] = c => F.dropout(c.In(0), c.Node.Float("ratio", 0.5f), c.Training),
        [OpKind.Identity] = c => c.In(0).alias(),
        [OpKind.Softmax] = c => F.softmax(c.In(0), c.Node.Int("axis", -1)),
        [OpKind.Transpose] = c => c.In(0).permute(TransposeOp.Permutation(c.Node, (int)c.In(0).dim()).Select(p => (long)p).ToArray()),
        [OpKind.Slice] = Slice,
        [OpKind.Pad] = Pad,
        [OpKind.LeakyRelu] = c =>
        {
            // A local Scalar disposed after the call, not a temporary the GC may free mid-call (see KeptScalars).
            using var slope = c.Node.Float("alpha", 0.01f).ToScalar();
            return c.In(0).leaky_relu(slope);
        },
        [OpKind.PRelu] = c => where(c.In(0).ge(KeptScalars.Zero), c.In(0), c.In(0) * c.In(1)),
        // elu takes alpha as a double, passed by value (no Scalar wrapper to lose).
        [OpKind.Elu] = c => c.In(0).elu(c.Node.Float("alpha", 1f)),
        // gamma·Elu(x, alpha) is Selu for any attributes; F.selu knows only PyTorch's constants.
        [OpKind.Selu] = c =>
        {
            using var gamma = c.Node.Float("gamma", 1.05070102214813232421875f).ToScalar();
            return c.In(0).elu(c.Node.Float("alpha", 1.67326319217681884765625f)).mul(gamma);
        },
        [OpKind.Gelu] = Gelu,
        [OpKind.Erf] = c => c.In(0).erf(),
        [OpKind.Tanh] = c => c.In(0).tanh(),
        [OpKind.Softplus] = c => F.softplus(c.In(0)),
        [OpKind.Mish] = c => F.mish(c.In(0)),
        [OpKind.Neg] = c => c.In(0).neg(),
        [OpKind.Sqrt] = c => c.In(0).sqrt(),
        [OpKind.Pow] = c =>
        {
            using var exponent = PowOp.Exponent(c.Node, c.Constant).ToScalar();
            return c.In(0).pow(exponent);
        },
        [OpKind.Sum] = c => c.Present().Aggregate((a, b) => a.add(b, KeptScalars.One)),
        [OpKind.Max] = c => c.Present().Aggregate(maximum),
        [OpKind.Min] = c => c.Present().Aggregate(minimum),
        [OpKind.GlobalMaxPool] = c => c.In(0).amax(Enumerable.Range(2, (int)c.In(0).dim() - 2).Select(d => (long)d).ToArray(), keepdim: true),
        [OpKind.InstanceNormalization] = c =>
            F.instance_norm(c.In(0), weight: c.In(1), bias: c.In(2), eps: Exact(c.Node.Float("epsilon", 1e-5f))),
        [OpKind.LayerNormalization] = LayerNormalization,
        [OpKind.GroupNormalization] = GroupNormalization,
        [OpKind.ReduceMean] = c => c.In(0).mean(ReduceMeanOp.Axes(c.Node, (int)c.In(0).dim()).Select(a => (long)a).ToArray(), c.Node.Int("keepdims", 1) != 0),
        [OpKind.DepthToSpace] = DepthToSpace,
        [OpKind.SpaceToDepth] = SpaceToDepth,
        [OpKind.Resize] = Resize,
        [OpKind.ConvTranspose] = c => Mixed(c, (x, w, b) => ConvTranspose(c.Node, x, w!, b), c.In(0), c.In(1), c.Opt(2)),
    };

    /// <summary>
    /// Runs <paramref name="op"/> on its float inputs as they are, or under <see cref="Precision.BFloat16"/> on their
    /// bfloat16 roundings with the result widened back to float32: the casts are autograd ops, so the gradients of
    /// float32 weights arrive in float32 (the master weights), and everything downstream (batch norm, the loss) stays float32.
    /// </summary>
    private static Tensor Mixed(KernelCall c, Func<Tensor, Tensor?, Tensor?, Tensor> op, Tensor a, Tensor? b, Tensor? bias)
    {
        if (!c.BFloat16 || a.dtype != ScalarType.Float32) return op(a, b, bias);
        static Tensor? Narrow(Tensor? t) => t is not null && t.dtype == ScalarType.Float32 ? t.to_type(ScalarType.BFloat16) : t;
        return op(Narrow(a)!, Narrow(b), Narrow(bias)).to_type(ScalarType.Float32);
    }

    /// <summary>The ops that have a kernel.</summary>
    public static IEnumerable<OpKind> Supported => Table.Keys;

    /// <summary>The kernel of <paramref name="node"/>'s op.</summary>
    /// <exception cref="SecateurException">UnsupportedOp, naming the op and the node, when the op has no kernel.</exception>
    public static Kernel For(Node node) => Table.TryGetValue(node.Op, out var k) ? k
        : throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': op {node.Op} cannot be executed (it has no kernel)");

    /// <summary>
    /// The double a float attribute was written as: ONNX stores 1e-5 as a float, and widening that float gives
    /// 9.99999975e-6, not PyTorch's 1e-5; the shortest round-trip text recovers the intended decimal.
    /// </summary>
    private static double Exact(float value) => double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    private static Tensor Clip(KernelCall c)
    {
        var node = c.Node;
        double? lo = c.Opt(1) is { } a ? a.item<float>() : node.Attributes.ContainsKey("min") ? node.Float("min", 0) : null;
        double? hi = c.Opt(2) is { } b ? b.item<float>() : node.Attributes.ContainsKey("max") ? node.Float("max", 0) : null;
        if (lo == 0 && hi == 6) return F.relu6(c.In(0));
        using var min = lo?.ToScalar();
        using var max = hi?.ToScalar();
        return clamp(c.In(0), min, max);
    }

    private static Tensor HardSigmoid(KernelCall c)
    {
        float alpha = c.Node.Float("alpha", 0.2f), beta = c.Node.Float("beta", 0.5f);
        if (Math.Abs(alpha - 1f / 6f) < 1e-7f && beta == 0.5f) return F.hardsigmoid(c.In(0));
        using var a = alpha.ToScalar();
        using var b = beta.ToScalar();
        return clamp(c.In(0).mul(a).add(b, KeptScalars.One), KeptScalars.Zero, KeptScalars.One);
    }

    private static Tensor Flatten(KernelCall c)
    {
        var x = c.In(0);
        long axis = c.Node.Int("axis", 1);
        if (axis < 0) axis += x.dim();
        long outer = x.shape.Take((int)axis).Aggregate(1L, (a, b) => a * b);
        return x.reshape(outer, -1);
    }

    private static Tensor Reshape(KernelCall c)
    {
        var x = c.In(0);
        var target = c.Constant(c.Node.Inputs[1])!.Longs.ToArray();
        if (c.Node.Int("allowzero", 0) == 0)
            for (int i = 0; i < target.Length; i++)
                if (target[i] == 0) target[i] = x.shape[i];
        return x.reshape(target);
    }

    /// <summary>Pads asymmetrically when ONNX pads differ at the two ends; returns the symmetric remainder.</summary>
    internal static (Tensor X, long[] Padding) Symmetric(Tensor x, long[] begin, long[] end, double fill)
    {
        if (begin.SequenceEqual(end)) return (x, begin);
        var pad = new long[begin.Length * 2];
        // F.pad lists the last dimension first: (wBegin, wEnd, hBegin, hEnd).
        for (int i = 0; i < begin.Length; i++)
        {
            pad[2 * i] = begin[begin.Length - 1 - i];
            pad[2 * i + 1] = end[begin.Length - 1 - i];
        }
        return (F.pad(x, pad, PaddingModes.Constant, fill), new long[begin.Length]);
    }

    private static Tensor Conv(Node node, Tensor x, Tensor w, Tensor? b)
    {
        var g = ConvGeometry.Of(node, x.shape, w.shape[2..]);
        var (input, padding) = Symmetric(x, g.PadsBegin, g.PadsEnd, 0);
        return x.dim() switch
        {
            3 => F.conv1d(input, w, b, g.Strides[0], padding[0], g.Dilations[0], g.Group),
            4 => F.conv2d(input, w, b, g.Strides, padding, g.Dilations, g.Group),
            5 => F.conv3d(input, w, b, g.Strides, padding, g.Dilations, g.Group),
            _ => throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': Conv on rank-{x.dim()} input"),
        };
    }

    private static Tensor Pool(Node node, Tensor x, bool max)
    {
        var kernel = node.Ints("kernel_shape")!.ToArray();
        if (x.dim() != 4) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': {node.Op} on rank-{x.dim()} input (only 2-D pooling)");
        var g = ConvGeometry.Of(node, x.shape, kernel);
        bool ceil = node.Int("ceil_mode", 0) != 0;
        bool symmetric = g.SymmetricPads && g.PadsBegin.Zip(kernel).All(p => p.First * 2 <= p.Second);
        if (max)
        {
            var (input, padding) = symmetric ? (x, g.PadsBegin) : Symmetric(x, g.PadsBegin, g.PadsEnd, double.NegativeInfinity);
            return F.max_pool2d(input, kernel, g.Strides, padding, g.Dilations, ceil);
        }
        bool includePad = node.Int("count_include_pad", 0) != 0;
        if (symmetric) return F.avg_pool2d(x, kernel, g.Strides, g.PadsBegin, ceil, includePad);
        if (!includePad)
        {
            // Average over the real elements only: pool a ones-mask the same way and divide.
            var (px, _) = Symmetric(x, g.PadsBegin, g.PadsEnd, 0);
            var (pm, _) = Symmetric(ones_like(x), g.PadsBegin, g.PadsEnd, 0);
            return F.avg_pool2d(px, kernel, g.Strides, ceil_mode: ceil) / F.avg_pool2d(pm, kernel, g.Strides, ceil_mode: ceil);
        }
        var (padded, zero) = Symmetric(x, g.PadsBegin, g.PadsEnd, 0);
        return F.avg_pool2d(padded, kernel, g.Strides, zero, ceil, true);
    }

    private static Tensor Slice(KernelCall c)
    {
        var x = c.In(0);
        foreach (var (axis, r) in SliceOp.Ranges(c.Node, x.shape, c.Constant))
        {
            if (r.Step > 0) x = x.slice(axis, r.Start, r.Start + r.Step * r.Count, r.Step);
            else
            {
                // libtorch slices only forwards; a backward slice gathers its indices.
                using var index = arange(r.Start, r.Start + r.Step * r.Count, r.Step, dtype: ScalarType.Int64, device: x.device);
                x = x.index_select(axis, index);
            }
        }
        return x;
    }

    private static Tensor Pad(KernelCall c)
    {
        var x = c.In(0);
        int rank = (int)x.dim();
        var pads = PadOp.Amounts(c.Node, rank, c.Constant);
        // F.pad lists the last axis first and may stop at the outermost padded axis.
        int first = Enumerable.Range(0, rank).FirstOrDefault(i => pads[i] != 0 || pads[i + rank] != 0, rank);
        if (first == rank) return x.alias();
        var list = new List<long>();
        for (int i = rank - 1; i >= first; i--) { list.Add(pads[i]); list.Add(pads[i + rank]); }
        var mode = c.Node.String("mode", "constant") switch
        {
            "reflect" => PaddingModes.Reflect,
            "edge" => PaddingModes.Replicate,
            _ => PaddingModes.Constant,
        };
        double fill = c.Node.InputOrNull(2) is { } f ? c.Constant(f)!.Floats[0] : 0;
        return F.pad(x, list.ToArray(), mode, fill);
    }

    private static Tensor Gelu(KernelCall c)
    {
        var x = c.In(0);
        if (c.Node.String("approximate", "none") != "tanh") return F.gelu(x);
        // TorchSharp's gelu has no tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as ONNX defines it.
        using var half = 0.5.ToScalar();
        using var k = Math.Sqrt(2 / Math.PI).ToScalar();
        using var cubic = 0.044715.ToScalar();
        using var three = 3.ToScalar();
        var inner = x.add(x.pow(three).mul(cubic), KeptScalars.One).mul(k);
        return x.mul(half).mul(inner.tanh().add(KeptScalars.One, KeptScalars.One));
    }

    private static Tensor LayerNormalization(KernelCall c)
    {
        var x = c.In(0);
        int axis = LayerNormalizationOp.FirstAxis(c.Node, (int)x.dim());
        var normalised = x.shape[axis..];
        double eps = Exact(c.Node.Float("epsilon", 1e-5f));
        var scale = c.In(1);
        var bias = c.Opt(2);
        // F.layer_norm needs parameters of exactly the normalised shape; ONNX lets them broadcast to it.
        if (scale.shape.SequenceEqual(normalised) && (bias is null || bias.shape.SequenceEqual(normalised)))
            return F.layer_norm(x, normalised, scale, bias, eps);
        var y = F.layer_norm(x, normalised, eps: eps) * scale;
        return bias is null ? y : y.add(bias, KeptScalars.One);
    }

    private static Tensor GroupNormalization(KernelCall c)
    {
        var x = c.In(0);
        long groups = c.Node.Int("num_groups", 1), channels = x.shape[1];
        var scale = c.In(1);
        var bias = c.In(2);
        // Opset 18's per-group scale and bias apply to each of the group's C/G channels.
        if (scale.shape[0] != channels) scale = scale.repeat_interleave(channels / groups);
        if (bias.shape[0] != channels) bias = bias.repeat_interleave(channels / groups);
        return F.group_norm(x, groups, scale, bias, Exact(c.Node.Float("epsilon", 1e-5f)));
    }

    private static Tensor DepthToSpace(KernelCall c)
    {
        var x = c.In(0);
        long r = DepthToSpaceOp.BlockSize(c.Node);
        long n = x.shape[0], ch = x.shape[1] / (r * r), h = x.shape[2], w = x.shape[3];
        // DCR: channel k·C + c, k = (i, j) the pixel in the block; CRD: channel c·r² + k.
        var blocks = c.Node.String("mode", "DCR") == "CRD"
            ? x.reshape(n, ch, r, r, h, w).permute(0, 1, 4, 2, 5, 3)   // (N, C, H, r, W, r)
            : x.reshape(n, r, r, ch, h, w).permute(0, 3, 4, 1, 5, 2);  // (N, C, H, r, W, r)
        return blocks.reshape(n, ch, h * r, w * r);
    }

    private static Tensor SpaceToDepth(KernelCall c)
    {
        var x = c.In(0);
        long r = DepthToSpaceOp.BlockSize(c.Node);
        long n = x.shape[0], ch = x.shape[1], h = x.shape[2] / r, w = x.shape[3] / r;
        // (N, C, H/r, r, W/r, r) → (N, r, r, C, H/r, W/r): the pixel in the block becomes the outer channel index.
        return x.reshape(n, ch, h, r, w, r).permute(0, 3, 5, 1, 2, 4).reshape(n, ch * r * r, h, w);
    }

    /// <summary>Resize one axis at a time (nearest and linear are separable), with ONNX Runtime's source indices and weights.</summary>
    private static Tensor Resize(KernelCall c)
    {
        var x = c.In(0);
        var plan = ResizeOp.Plan(c.Node, x.shape, c.Constant);
        for (int d = 0; d < plan.Length; d++)
        {
            if (ResizeOp.Sources(c.Node, plan[d]) is not var (low, high, weight)) continue;
            using var lo = tensor(low, device: x.device);
            var a = x.index_select(d, lo);
            if (weight.All(w => w == 0f)) { x = a; continue; }
            using var hi = tensor(high, device: x.device);
            var shape = Enumerable.Repeat(1L, plan.Length).ToArray();
            shape[d] = weight.Length;
            using var w = tensor(weight, device: x.device).reshape(shape); // broadcasts along axis d
            // a + w·(b − a): the two neighbours' lerp, differentiable in x.
            x = a + (x.index_select(d, hi) - a) * w;
        }
        return x.alias();
    }

    private static Tensor ConvTranspose(Node node, Tensor x, Tensor w, Tensor? b)
    {
        var g = ConvTransposeOp.Geometry(node, x.shape, w.shape);
        if (x.dim() != 4 && x.dim() != 3)
            throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': ConvTranspose on rank-{x.dim()} input (only 1-D and 2-D)");
        if (g.Native)
            return x.dim() == 4
                ? F.conv_transpose2d(x, w, b, g.Strides, g.PadsBegin, g.OutputPadding, g.Dilations, g.Group)
                : F.conv_transpose1d(x, w, b, stride: g.Strides[0], padding: g.PadsBegin[0], output_padding: g.OutputPadding[0], dilation: g.Dilations[0], groups: g.Group);
        // Asymmetric pads or a large output padding: the full, unpadded result cropped (and zero-extended) to ONNX's window.
        var full = x.dim() == 4
            ? F.conv_transpose2d(x, w, null, g.Strides, [0, 0], [0, 0], g.Dilations, g.Group)
            : F.conv_transpose1d(x, w, null, stride: g.Strides[0], dilation: g.Dilations[0], groups: g.Group);
        var pad = new List<long>();
        for (int i = g.PadsBegin.Length - 1; i >= 0; i--)
        {
            long size = full.shape[i + 2];
            pad.Add(-g.PadsBegin[i]);
            pad.Add(g.Output[i] + g.PadsBegin[i] - size);
        }
        var y = F.pad(full, pad.ToArray(), PaddingModes.Constant, 0);
        if (b is not null) y = y + b.reshape([1, -1, .. Enumerable.Repeat(1L, g.PadsBegin.Length)]);
        return y;
    }

    private static Tensor Gemm(Node node, Tensor a, Tensor b, Tensor? c)
    {
        float alpha = node.Float("alpha", 1f), beta = node.Float("beta", 1f);
        bool ta = node.Int("transA", 0) != 0, tb = node.Int("transB", 0) != 0;
        if (!ta && tb && alpha == 1f && (beta == 1f || c is null)) return F.linear(a, b, c);
        var y = matmul(ta ? a.t() : a, tb ? b.t() : b);
        using var sa = alpha.ToScalar();
        using var sb = beta.ToScalar();
        if (alpha != 1f) y = y.mul(sa);
        if (c is not null) y = y.add(beta == 1f ? c : c.mul(sb), KeptScalars.One);
        return y;
    }
}
