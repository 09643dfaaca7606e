using System.Globalization;
using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Interop;

/// <summary>What a generator entry sees of one node: its inputs as Python expressions, their shapes, its attributes and constants.</summary>
internal sealed class PythonCall(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes, Func<string, string> expression)
{
    /// <summary>The node being written.</summary>
    public Node Node => node;

    /// <summary>Input <paramref name="i"/> as a Python expression (a local variable, or <c>self.t("name")</c> for a tensor of the state dict).</summary>
    public string In(int i) => expression(node.InputOrNull(i) ?? throw OpDefinition.Fail(node, $"input {i} is missing"));

    /// <summary>Input <paramref name="i"/>, or <c>None</c> when omitted.</summary>
    public string Opt(int i) => node.InputOrNull(i) is { } v ? expression(v) : "None";

    /// <summary>Every present input, in order.</summary>
    public IEnumerable<string> Present() => node.Inputs.Where(i => i.Length > 0).Select(expression);

    /// <summary>The shape of input <paramref name="i"/> at batch 1.</summary>
    public long[] Shape(int i) => shapes[node.Inputs[i]];

    /// <summary>The constant initializer <paramref name="name"/>.</summary>
    public TensorData? Constant(string name) => graph.Initializers.GetValueOrDefault(name);

    /// <summary>The shape of <paramref name="i"/>'s constant input, when it is one.</summary>
    public TensorData? ConstantInput(int i) => node.InputOrNull(i) is { } v ? Constant(v) : null;
}

/// <summary>
/// The PyTorch expression of every op, in one table keyed by <see cref="OpKind"/>: the Python twin of
/// <c>Runtime/Kernels.cs</c>, written with the same ONNX semantics (asymmetric pads, ONNX momentum, Resize's source
/// indices) so that the generated module computes what Secateur's runtime does. Geometry that depends only on the
/// non-batch dimensions (pads, slice ranges, resize tables) is resolved here, once, from the graph's static shapes;
/// everything that depends on the batch is left to run time.
/// </summary>
internal static class PythonOps
{
    /// <summary>Writes one node's output expression.</summary>
    public delegate string Generator(PythonCall call);

    private static readonly Dictionary<OpKind, Generator> Table = new()
    {
        [OpKind.Conv] = Conv,
        // ONNX momentum weighs the old statistic; PyTorch's weighs the new one.
        [OpKind.BatchNormalization] = c => $"F.batch_norm({c.In(0)}, {c.In(3)}, {c.In(4)}, {c.In(1)}, {c.In(2)}, self.training, {Num((double)(1m - (decimal)Decimal(c.Node.Float("momentum", 0.9f))))}, {Exact(c.Node.Float("epsilon", 1e-5f))})",
        [OpKind.Relu] = c => $"F.relu({c.In(0)})",
        [OpKind.Clip] = Clip,
        [OpKind.Sigmoid] = c => $"torch.sigmoid({c.In(0)})",
        [OpKind.HardSigmoid] = c =>
        {
            float alpha = c.Node.Float("alpha", 0.2f), beta = c.Node.Float("beta", 0.5f);
            return Math.Abs(alpha - 1f / 6f) < 1e-7f && beta == 0.5f ? $"F.hardsigmoid({c.In(0)})"
                : $"torch.clamp({c.In(0)} * {Num(alpha)} + {Num(beta)}, 0.0, 1.0)";
        },
        [OpKind.HardSwish] = c => $"F.hardswish({c.In(0)})",
        [OpKind.Add] = c => $"{c.In(0)} + {c.In(1)}",
        [OpKind.Sub] = c => $"{c.In(0)} - {c.In(1)}",
        [OpKind.Mul] = c => $"{c.In(0)} * {c.In(1)}",
        [OpKind.Div] = c => $"{c.In(0)} / {c.In(1)}",
        [OpKind.Concat] = c => $"torch.cat([{string.Join(", ", c.Present())}], {c.Node.Int("axis", 1)})",
        [OpKind.MaxPool] = c => Pool(c, max: true),
        [OpKind.AveragePool] = c => Pool(c, max: false),
        [OpKind.GlobalAveragePool] = c => $"{c.In(0)}.mean({Tuple(Enumerable.Range(2, c.Shape(0).Length - 2))}, keepdim=True)",
        [OpKind.Flatten] = c =>
        {
            long axis = c.Node.Int("axis", 1);
            if (axis < 0) axis += c.Shape(0).Length;
            return axis switch
            {
                0 => $"{c.In(0)}.reshape(1, -1)",
                1 => $"{c.In(0)}.reshape({c.In(0)}.shape[0], -1)",
                _ => $"{c.In(0)}.reshape(math.prod({c.In(0)}.shape[:{axis}]), -1)",
            };
        },
        [OpKind.Reshape] = c =>
        {
            var target = c.ConstantInput(1)?.Longs ?? throw OpDefinition.Fail(c.Node, "the shape must be a constant int64 initializer");
            bool copyZero = c.Node.Int("allowzero", 0) == 0;
            return $"{c.In(0)}.reshape({string.Join(", ", target.Select((d, i) => copyZero && d == 0 ? $"{c.In(0)}.shape[{i}]" : Int(d)))})";
        },
        [OpKind.Gemm] = Gemm,
        [OpKind.MatMul] = c => $"torch.matmul({c.In(0)}, {c.In(1)})",
        [OpKind.Dropout] = c => $"F.dropout({c.In(0)}, {Num(c.Node.Float("ratio", 0.5f))}, self.training)",
        [OpKind.Identity] = c => c.In(0),
        [OpKind.Softmax] = c => $"F.softmax({c.In(0)}, {c.Node.Int("axis", -1)})",
        [OpKind.Transpose] = c => $"{c.In(0)}.permute({string.Join(", ", TransposeOp.Permutation(c.Node, c.Shape(0).Length))})",
        [OpKind.Slice] = Slice,
        [OpKind.Pad] = Pad,
        [OpKind.LeakyRelu] = c => $"F.leaky_relu({c.In(0)}, {Num(c.Node.Float("alpha", 0.01f))})",
        [OpKind.PRelu] = c => $"torch.where({c.In(0)} >= 0, {c.In(0)}, {c.In(0)} * {c.In(1)})",
        [OpKind.Elu] = c => $"F.elu({c.In(0)}, {Num(c.Node.Float("alpha", 1f))})",
        // gamma·Elu(x, alpha) is Selu for any attributes; F.selu knows only PyTorch's constants.
        [OpKind.Selu] = c => $"F.elu({c.In(0)}, {Num(c.Node.Float("alpha", 1.67326319217681884765625f))}) * {Num(c.Node.Float("gamma", 1.05070102214813232421875f))}",
        [OpKind.Gelu] = c => c.Node.String("approximate", "none") == "tanh" ? $"F.gelu({c.In(0)}, approximate=\"tanh\")" : $"F.gelu({c.In(0)})",
        [OpKind.Erf] = c => $"torch.erf({c.In(0)})",
        [OpKind.Tanh] = c => $"torch.tanh({c.In(0)})",
        [OpKind.Softplus] = c => $"F.softplus({c.In(0)})",
        [OpKind.Mish] = c => $"F.mish({c.In(0)})",
        [OpKind.Neg] = c => $"-{c.In(0)}",
        [OpKind.Sqrt] = c => $"torch.sqrt({c.In(0)})",
        [OpKind.Pow] = c => $"{c.In(0)}.pow({Num(PowOp.Exponent(c.Node, c.Constant))})",
        [OpKind.Sum] = c => string.Join(" + ", c.Present()),
        [OpKind.Max] = c => c.Present().Aggregate((a, b) => $"torch.maximum({a}, {b})"),
        [OpKind.Min] = c => c.Present().Aggregate((a, b) => $"torch.minimum({a}, {b})"),
        [OpKind.GlobalMaxPool] = c => $"{c.In(0)}.amax({Tuple(Enumerable.Range(2, c.Shape(0).Length - 2))}, keepdim=True)",
        [OpKind.InstanceNormalization] = c => $"F.instance_norm({c.In(0)}, weight={c.In(1)}, bias={c.In(2)}, eps={Exact(c.Node.Float("epsilon", 1e-5f))})",
        [OpKind.LayerNormalization] = LayerNormalization,
        [OpKind.GroupNormalization] = c =>
        {
            long groups = c.Node.Int("num_groups", 1), channels = c.Shape(0)[1];
            // Opset 18's per-group scale and bias apply to each of the group's C/G channels.
            string PerChannel(int i) => c.Shape(i)[0] == channels ? c.In(i) : $"{c.In(i)}.repeat_interleave({channels / groups})";
            return $"F.group_norm({c.In(0)}, {groups}, {PerChannel(1)}, {PerChannel(2)}, {Exact(c.Node.Float("epsilon", 1e-5f))})";
        },
        [OpKind.ReduceMean] = c => $"{c.In(0)}.mean({Tuple(ReduceMeanOp.Axes(c.Node, c.Shape(0).Length))}, keepdim={(c.Node.Int("keepdims", 1) != 0 ? "True" : "False")})",
        [OpKind.DepthToSpace] = c =>
        {
            long r = DepthToSpaceOp.BlockSize(c.Node);
            var s = c.Shape(0);
            long ch = s[1] / (r * r), h = s[2], w = s[3];
            // CRD is PixelShuffle; DCR takes channel k·C + c for the pixel k of the block.
            return c.Node.String("mode", "DCR") == "CRD" ? $"F.pixel_shuffle({c.In(0)}, {r})"
                : $"{c.In(0)}.reshape(-1, {r}, {r}, {ch}, {h}, {w}).permute(0, 3, 4, 1, 5, 2).reshape(-1, {ch}, {h * r}, {w * r})";
        },
        [OpKind.SpaceToDepth] = c =>
        {
            long r = DepthToSpaceOp.BlockSize(c.Node);
            var s = c.Shape(0);
            long ch = s[1], h = s[2] / r, w = s[3] / r;
            return $"{c.In(0)}.reshape(-1, {ch}, {h}, {r}, {w}, {r}).permute(0, 3, 5, 1, 2, 4).reshape(-1, {ch * r * r}, {h}, {w})";
        },
        [OpKind.Resize] = Resize,
        [OpKind.ConvTranspose] = ConvTranspose,
    };

    /// <summary>The ops that have a generator entry.</summary>
    public static IEnumerable<OpKind> Supported => Table.Keys;

    /// <summary>The Python expression of <paramref name="call"/>'s node.</summary>
    /// <exception cref="SecateurException">UnsupportedOp, naming the op and the node, when the op has no entry.</exception>
    public static string For(PythonCall call) => Table.TryGetValue(call.Node.Op, out var g) ? g(call)
        : throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{call.Node.Name}': op {call.Node.Op} has no PyTorch translation");

    /// <summary>A float as Python reads it back to the same float32 value (the shortest round-trip form).</summary>
    internal static string Num(double value) => double.IsPositiveInfinity(value) ? "math.inf" : double.IsNegativeInfinity(value) ? "-math.inf"
        : value.ToString("R", CultureInfo.InvariantCulture) is var s && (s.Contains('.') || s.Contains('E')) ? s.Replace("E", "e", StringComparison.Ordinal) : s + ".0";

    private static string Num(float value) => float.IsFinite(value) ? Num(Decimal(value)) : Num((double)value);

    /// <summary>The decimal a float attribute was written as (1e-5, not 9.99999975e-6), as the runtime's kernels use it.</summary>
    private static double Decimal(float value) => double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Exact(float value) => Num(value);

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Tuple(IEnumerable<int> values) => Tuple(values.Select(v => (long)v));

    private static string Tuple(IEnumerable<long> values)
    {
        var list = values.Select(Int).ToList();
        return list.Count == 1 ? $"({list[0]},)" : $"({string.Join(", ", list)})";
    }

    private static string List(IEnumerable<long> values) => $"[{string.Join(", ", values.Select(Int))}]";

    /// <summary>F.pad's list for ONNX begin/end pads: the last axis first, (begin, end) per axis.</summary>
    private static long[] PadList(long[] begin, long[] end) =>
        Enumerable.Range(0, begin.Length).Reverse().SelectMany(i => new[] { begin[i], end[i] }).ToArray();

    private static string Conv(PythonCall c)
    {
        var x = c.Shape(0);
        var g = ConvGeometry.Of(c.Node, x, c.Shape(1)[2..]);
        int d = x.Length - 2;
        if (d is < 1 or > 3) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{c.Node.Name}': Conv on rank-{x.Length} input");
        var input = g.SymmetricPads ? c.In(0) : $"F.pad({c.In(0)}, {List(PadList(g.PadsBegin, g.PadsEnd))})";
        var padding = g.SymmetricPads ? g.PadsBegin : new long[d];
        return $"F.conv{d}d({input}, {c.In(1)}, {c.Opt(2)}, {Tuple(g.Strides)}, {Tuple(padding)}, {Tuple(g.Dilations)}, {g.Group})";
    }

    private static string Clip(PythonCall c)
    {
        var node = c.Node;
        double? lo = c.ConstantInput(1) is { } a ? a.Floats[0] : node.Attributes.ContainsKey("min") ? node.Float("min", 0) : null;
        double? hi = c.ConstantInput(2) is { } b ? b.Floats[0] : node.Attributes.ContainsKey("max") ? node.Float("max", 0) : null;
        if (lo == 0 && hi == 6) return $"F.relu6({c.In(0)})";
        return $"torch.clamp({c.In(0)}, {(lo is { } l ? Num(l) : "None")}, {(hi is { } h ? Num(h) : "None")})";
    }

    private static string Pool(PythonCall c, bool max)
    {
        var node = c.Node;
        var x = c.Shape(0);
        var kernel = node.Ints("kernel_shape")?.ToArray() ?? throw OpDefinition.Fail(node, "kernel_shape is missing");
        if (x.Length != 4) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': {node.Op} on rank-{x.Length} input (only 2-D pooling)");
        var g = ConvGeometry.Of(node, x, kernel);
        string ceil = node.Int("ceil_mode", 0) != 0 ? "True" : "False";
        // PyTorch pools pad symmetrically and by at most half the kernel; anything else is padded by hand first.
        bool symmetric = g.SymmetricPads && g.PadsBegin.Zip(kernel).All(p => p.First * 2 <= p.Second);
        string padded(string fill) => $"F.pad({c.In(0)}, {List(PadList(g.PadsBegin, g.PadsEnd))}, value={fill})";
        if (max)
            return $"F.max_pool2d({(symmetric ? c.In(0) : padded("-math.inf"))}, {Tuple(kernel)}, {Tuple(g.Strides)}, {Tuple(symmetric ? g.PadsBegin : new long[2])}, {Tuple(g.Dilations)}, ceil_mode={ceil})";
        bool includePad = node.Int("count_include_pad", 0) != 0;
        if (symmetric)
            return $"F.avg_pool2d({c.In(0)}, {Tuple(kernel)}, {Tuple(g.Strides)}, {Tuple(g.PadsBegin)}, ceil_mode={ceil}, count_include_pad={(includePad ? "True" : "False")})";
        if (includePad) return $"F.avg_pool2d({padded("0.0")}, {Tuple(kernel)}, {Tuple(g.Strides)}, ceil_mode={ceil})";
        // Average over the real elements only: pool a ones-mask the same way and divide.
        var mask = $"F.pad(torch.ones_like({c.In(0)}), {List(PadList(g.PadsBegin, g.PadsEnd))})";
        return $"F.avg_pool2d({padded("0.0")}, {Tuple(kernel)}, {Tuple(g.Strides)}, ceil_mode={ceil}) / F.avg_pool2d({mask}, {Tuple(kernel)}, {Tuple(g.Strides)}, ceil_mode={ceil})";
    }

    private static string Gemm(PythonCall c)
    {
        var node = c.Node;
        float alpha = node.Float("alpha", 1f), beta = node.Float("beta", 1f);
        bool ta = node.Int("transA", 0) != 0, tb = node.Int("transB", 0) != 0;
        bool hasC = node.InputOrNull(2) is not null;
        if (!ta && tb && alpha == 1f && (beta == 1f || !hasC)) return $"F.linear({c.In(0)}, {c.In(1)}, {c.Opt(2)})";
        var y = $"torch.matmul({c.In(0)}{(ta ? ".t()" : "")}, {c.In(1)}{(tb ? ".t()" : "")})";
        if (alpha != 1f) y += $" * {Num(alpha)}";
        if (hasC) y += beta == 1f ? $" + {c.In(2)}" : $" + {c.In(2)} * {Num(beta)}";
        return y;
    }

    private static string Slice(PythonCall c)
    {
        var x = c.In(0);
        var shape = c.Shape(0);
        var ranges = SliceOp.Ranges(c.Node, shape, c.Constant);
        if (ranges.Any(r => r.Axis == 0)) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{c.Node.Name}' (Slice): slicing the batch axis has no batch-independent PyTorch translation");
        var index = Enumerable.Repeat(":", shape.Length).ToArray();
        var result = x;
        foreach (var (axis, r) in ranges)
        {
            if (r.Step > 0) index[axis] = $"{r.Start}:{r.Start + r.Step * r.Count}{(r.Step == 1 ? "" : $":{r.Step}")}";
            // PyTorch slices only forwards; a backward slice gathers its indices.
            else result = $"{result}.index_select({axis}, torch.arange({r.Start}, {r.Start + r.Step * r.Count}, {r.Step}, device={x}.device))";
        }
        int last = Array.FindLastIndex(index, i => i != ":");
        return last < 0 ? result : $"{result}[{string.Join(", ", index.Take(last + 1))}]";
    }

    private static string Pad(PythonCall c)
    {
        int rank = c.Shape(0).Length;
        var pads = PadOp.Amounts(c.Node, rank, c.Constant);
        // F.pad lists the last axis first and may stop at the outermost padded axis.
        int first = Enumerable.Range(0, rank).FirstOrDefault(i => pads[i] != 0 || pads[i + rank] != 0, rank);
        if (first == rank) return c.In(0);
        var list = new List<long>();
        for (int i = rank - 1; i >= first; i--) { list.Add(pads[i]); list.Add(pads[i + rank]); }
        var mode = c.Node.String("mode", "constant") switch { "reflect" => "reflect", "edge" => "replicate", _ => "constant" };
        double fill = c.ConstantInput(2) is { } f ? f.Floats[0] : 0;
        return mode == "constant" ? $"F.pad({c.In(0)}, {List(list)}, value={Num(fill)})" : $"F.pad({c.In(0)}, {List(list)}, mode=\"{mode}\")";
    }

    private static string LayerNormalization(PythonCall c)
    {
        var x = c.Shape(0);
        int axis = LayerNormalizationOp.FirstAxis(c.Node, x.Length);
        var normalised = x[axis..];
        var eps = Exact(c.Node.Float("epsilon", 1e-5f));
        bool hasBias = c.Node.InputOrNull(2) is not null;
        // F.layer_norm needs parameters of exactly the normalised shape; ONNX lets them broadcast to it.
        if (c.Shape(1).SequenceEqual(normalised) && (!hasBias || c.Shape(2).SequenceEqual(normalised)))
            return $"F.layer_norm({c.In(0)}, {Tuple(normalised)}, {c.In(1)}, {c.Opt(2)}, {eps})";
        var y = $"F.layer_norm({c.In(0)}, {Tuple(normalised)}, eps={eps}) * {c.In(1)}";
        return hasBias ? $"{y} + {c.In(2)}" : y;
    }

    /// <summary>One axis at a time, with the source indices and weights the runtime uses (ONNX Runtime's).</summary>
    private static string Resize(PythonCall c)
    {
        var plan = ResizeOp.Plan(c.Node, c.Shape(0), c.Constant);
        var y = c.In(0);
        for (int d = 0; d < plan.Length; d++)
        {
            if (ResizeOp.Sources(c.Node, plan[d]) is not var (low, high, weight)) continue;
            if (d == 0) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{c.Node.Name}' (Resize): resizing the batch axis has no batch-independent PyTorch translation");
            y = weight.All(w => w == 0f)
                ? $"resize_axis({y}, {d}, {List(low)})"
                : $"resize_axis({y}, {d}, {List(low)}, {List(high)}, [{string.Join(", ", weight.Select(w => Num(w)))}])";
        }
        return y;
    }

    private static string ConvTranspose(PythonCall c)
    {
        var x = c.Shape(0);
        var g = ConvTransposeOp.Geometry(c.Node, x, c.Shape(1));
        if (x.Length is not (3 or 4))
            throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{c.Node.Name}': ConvTranspose on rank-{x.Length} input (only 1-D and 2-D)");
        int d = x.Length - 2;
        if (g.Native)
            return $"F.conv_transpose{d}d({c.In(0)}, {c.In(1)}, {c.Opt(2)}, {Tuple(g.Strides)}, {Tuple(g.PadsBegin)}, {Tuple(g.OutputPadding)}, {g.Group}, {Tuple(g.Dilations)})";
        // Asymmetric pads or a large output padding: the full, unpadded result cropped (and zero-extended) to ONNX's window.
        var w = c.Shape(1);
        var pad = new List<long>();
        for (int i = d - 1; i >= 0; i--)
        {
            long full = g.Strides[i] * (x[i + 2] - 1) + (w[i + 2] - 1) * g.Dilations[i] + 1;
            pad.Add(-g.PadsBegin[i]);
            pad.Add(g.Output[i] + g.PadsBegin[i] - full);
        }
        var y = $"F.pad(F.conv_transpose{d}d({c.In(0)}, {c.In(1)}, None, {Tuple(g.Strides)}, 0, 0, {g.Group}, {Tuple(g.Dilations)}), {List(pad)})";
        return c.Node.InputOrNull(2) is null ? y : $"{y} + {c.In(2)}.reshape(1, -1{string.Concat(Enumerable.Repeat(", 1", d))})";
    }
}
