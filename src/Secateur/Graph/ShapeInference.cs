namespace Secateur.Graph;

/// <summary>
/// Computes the concrete shape of every value in a <see cref="ModelGraph"/> for a given batch size.
/// Inconsistent shapes (a conv whose weight does not match its input channels, say) are reported as
/// <see cref="ErrorCode.InvalidGraph"/> naming the node.
/// </summary>
public static class ShapeInference
{
    /// <summary>Shapes of all values (graph inputs, initializers and node outputs) by name.</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="batch">Size substituted for symbolic dimensions of the inputs.</param>
    /// <param name="inputShapes">Optional concrete shapes per input name overriding the signatures.</param>
    public static Dictionary<string, long[]> Infer(ModelGraph graph, long batch = 1, IReadOnlyDictionary<string, long[]>? inputShapes = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
            shapes[i.Name] = inputShapes is not null && inputShapes.TryGetValue(i.Name, out var s) ? s : i.Concrete(batch);
        foreach (var kv in graph.Initializers) shapes[kv.Key] = kv.Value.Shape;
        foreach (var node in graph.Nodes)
        {
            var ins = new long[node.Inputs.Count][];
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                if (node.Inputs[k].Length == 0) { ins[k] = []; continue; }
                if (!shapes.TryGetValue(node.Inputs[k], out var shape))
                    throw Fail(node, $"input '{node.Inputs[k]}' is not defined before it is used");
                ins[k] = shape;
            }
            shapes[node.Output] = OutputShape(node, ins, name => graph.Initializers.GetValueOrDefault(name));
        }
        return shapes;
    }

    private static SecateurException Fail(Node node, string why) =>
        new(ErrorCode.InvalidGraph, $"node '{node.Name}' ({node.Op}): {why}");

    /// <summary>
    /// The output shape of one node given its input shapes; <paramref name="constant"/> looks up the constant
    /// operands some ops need (Reshape's shape, Slice's ranges, Pad's pads).
    /// </summary>
    internal static long[] OutputShape(Node node, long[][] ins, Func<string, TensorData?> constant)
    {
        long[] X() => ins.Length > 0 ? ins[0] : throw Fail(node, "has no input");
        switch (node.Op)
        {
            case OpKind.Conv: return Conv(node, X(), Need(node, ins, 1));
            case OpKind.BatchNormalization:
                {
                    var x = X();
                    if (x.Length < 2) throw Fail(node, $"input has rank {x.Length}, expected at least 2");
                    for (int i = 1; i <= 4; i++)
                    {
                        var p = Need(node, ins, i);
                        if (p.Length != 1 || p[0] != x[1])
                            throw Fail(node, $"parameter '{node.Inputs[i]}' has shape {TensorData.FormatShape(p)}, expected {x[1]} (the input's channels)");
                    }
                    return x;
                }
            case OpKind.Relu or OpKind.Clip or OpKind.Sigmoid or OpKind.HardSigmoid or OpKind.HardSwish
                or OpKind.Dropout or OpKind.Identity or OpKind.Softmax:
                return X();
            case OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Div:
                return Broadcast(node, X(), Need(node, ins, 1));
            case OpKind.Concat:
                {
                    var first = X();
                    int axis = Axis(node, node.Int("axis", 1), first.Length);
                    var outShape = (long[])first.Clone();
                    outShape[axis] = 0;
                    foreach (var s in ins.Where(s => s.Length > 0))
                    {
                        if (s.Length != first.Length) throw Fail(node, "inputs have different ranks");
                        for (int d = 0; d < s.Length; d++)
                            if (d != axis && s[d] != first[d])
                                throw Fail(node, $"inputs differ in dimension {d} ({TensorData.FormatShape(first)} vs {TensorData.FormatShape(s)})");
                        outShape[axis] += s[axis];
                    }
                    return outShape;
                }
            case OpKind.MaxPool or OpKind.AveragePool: return Pool(node, X());
            case OpKind.GlobalAveragePool:
                {
                    var x = X();
                    if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
                    return [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)];
                }
            case OpKind.Flatten:
                {
                    var x = X();
                    int axis = Axis(node, node.Int("axis", 1), x.Length + 1);
                    return [x.Take(axis).Aggregate(1L, (a, b) => a * b), x.Skip(axis).Aggregate(1L, (a, b) => a * b)];
                }
            case OpKind.Reshape: return Reshape(node, X(), constant);
            case OpKind.Transpose:
                {
                    var x = X();
                    var perm = Permutation(node, x.Length);
                    return perm.Select(p => x[p]).ToArray();
                }
            case OpKind.Slice:
                {
                    var x = X();
                    var result = (long[])x.Clone();
                    foreach (var (axis, range) in SliceRanges(node, x, constant)) result[axis] = range.Count;
                    return result;
                }
            case OpKind.Pad:
                {
                    var x = X();
                    var pads = PadAmounts(node, x.Length, constant);
                    var result = new long[x.Length];
                    for (int i = 0; i < x.Length; i++)
                    {
                        result[i] = x[i] + pads[i] + pads[i + x.Length];
                        if (result[i] < 0) throw Fail(node, $"pads remove more than dimension {i} holds ({x[i]})");
                    }
                    return result;
                }
            case OpKind.Gemm:
                {
                    var a = X(); var b = Need(node, ins, 1);
                    if (a.Length != 2 || b.Length != 2) throw Fail(node, $"expects 2-D inputs, got {TensorData.FormatShape(a)} and {TensorData.FormatShape(b)}");
                    long m = node.Int("transA", 0) != 0 ? a[1] : a[0], k = node.Int("transA", 0) != 0 ? a[0] : a[1];
                    long kb = node.Int("transB", 0) != 0 ? b[1] : b[0], n = node.Int("transB", 0) != 0 ? b[0] : b[1];
                    if (k != kb) throw Fail(node, $"inner dimensions differ: input has {k} features, weight expects {kb}");
                    if (node.InputOrNull(2) is not null) Broadcast(node, [m, n], ins[2]);
                    return [m, n];
                }
            case OpKind.MatMul:
                {
                    var a = X(); var b = Need(node, ins, 1);
                    if (a.Length < 1 || b.Length < 1) throw Fail(node, "scalar operand");
                    var a2 = a.Length == 1 ? new[] { 1L, a[0] } : a;
                    var b2 = b.Length == 1 ? new[] { b[0], 1L } : b;
                    if (a2[^1] != b2[^2]) throw Fail(node, $"inner dimensions differ: {TensorData.FormatShape(a)} · {TensorData.FormatShape(b)}");
                    var batchDims = Broadcast(node, a2[..^2], b2[..^2]);
                    var result = new List<long>(batchDims);
                    if (a.Length > 1) result.Add(a2[^2]);
                    if (b.Length > 1) result.Add(b2[^1]);
                    return [.. result];
                }
            default: throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': op {node.Op} has no shape rule");
        }
    }

    private static long[] Need(Node node, long[][] ins, int i) =>
        i < ins.Length && ins[i].Length > 0 || (i < node.Inputs.Count && node.Inputs[i].Length > 0)
            ? ins[i]
            : throw Fail(node, $"missing required input {i}");

    private static int Axis(Node node, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw Fail(node, $"axis {axis} is out of range for rank {rank}");
        return (int)a;
    }

    /// <summary>Numpy-style broadcast of two shapes.</summary>
    internal static long[] Broadcast(Node node, long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            long db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw Fail(node, $"shapes {TensorData.FormatShape(a)} and {TensorData.FormatShape(b)} do not broadcast");
            r[i] = Math.Max(da, db);
        }
        return r;
    }

    /// <summary>Explicit begin/end pads per spatial axis, resolving auto_pad.</summary>
    internal static (long[] Begin, long[] End) Pads(Node node, long[] spatial, long[] kernel, long[] strides, long[] dilations)
    {
        int n = spatial.Length;
        var begin = new long[n]; var end = new long[n];
        var autoPad = node.String("auto_pad", "NOTSET");
        if (autoPad is "NOTSET" or "")
        {
            var pads = node.Ints("pads");
            if (pads is not null)
            {
                if (pads.Count != 2 * n) throw Fail(node, $"pads has {pads.Count} values, expected {2 * n}");
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
        else if (autoPad != "VALID") throw Fail(node, $"auto_pad '{autoPad}' is not valid");
        return (begin, end);
    }

    private static long[] Spatial(Node node, string attr, int n, long fallback)
    {
        var v = node.Ints(attr);
        if (v is null) return Enumerable.Repeat(fallback, n).ToArray();
        if (v.Count != n) throw Fail(node, $"{attr} has {v.Count} values, expected {n}");
        return [.. v];
    }

    private static long[] Conv(Node node, long[] x, long[] w)
    {
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3 (N, C, spatial...)");
        if (w.Length != x.Length) throw Fail(node, $"weight has rank {w.Length}, input has rank {x.Length}");
        long group = node.Int("group", 1);
        if (group < 1 || x[1] % group != 0 || w[0] % group != 0)
            throw Fail(node, $"group {group} does not divide input channels {x[1]} and output channels {w[0]}");
        if (w[1] * group != x[1])
            throw Fail(node, $"weight expects {w[1] * group} input channels (shape {TensorData.FormatShape(w)}, group {group}), input has {x[1]}");
        int n = x.Length - 2;
        var kernel = w[2..];
        if (node.Ints("kernel_shape") is { } ks && !ks.SequenceEqual(kernel))
            throw Fail(node, $"kernel_shape [{string.Join(",", ks)}] does not match weight shape {TensorData.FormatShape(w)}");
        var strides = Spatial(node, "strides", n, 1);
        var dil = Spatial(node, "dilations", n, 1);
        var (b, e) = Pads(node, x[2..], kernel, strides, dil);
        var result = new long[x.Length];
        result[0] = x[0]; result[1] = w[0];
        for (int i = 0; i < n; i++)
        {
            long span = x[i + 2] + b[i] + e[i] - dil[i] * (kernel[i] - 1) - 1;
            if (span < 0) throw Fail(node, $"kernel {kernel[i]} (dilation {dil[i]}) is larger than the padded input {x[i + 2] + b[i] + e[i]}");
            result[i + 2] = span / strides[i] + 1;
        }
        return result;
    }

    private static long[] Pool(Node node, long[] x)
    {
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        int n = x.Length - 2;
        var kernel = node.Ints("kernel_shape")?.ToArray() ?? throw Fail(node, "kernel_shape is required");
        if (kernel.Length != n) throw Fail(node, $"kernel_shape has {kernel.Length} values, expected {n}");
        var strides = Spatial(node, "strides", n, 1);
        var dil = Spatial(node, "dilations", n, 1);
        var (b, e) = Pads(node, x[2..], kernel, strides, dil);
        bool ceil = node.Int("ceil_mode", 0) != 0;
        var result = (long[])x.Clone();
        for (int i = 0; i < n; i++)
        {
            long span = x[i + 2] + b[i] + e[i] - dil[i] * (kernel[i] - 1) - 1;
            if (span < 0) throw Fail(node, $"window {kernel[i]} is larger than the padded input {x[i + 2] + b[i] + e[i]}");
            long o = ceil ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
            // As in PyTorch and ONNX: with ceil_mode the last window must start inside the input or left padding.
            if (ceil && (o - 1) * strides[i] >= x[i + 2] + b[i]) o--;
            result[i + 2] = o;
        }
        return result;
    }

    private static long[] Reshape(Node node, long[] x, Func<string, TensorData?> constant)
    {
        var shapeName = node.InputOrNull(1) ?? throw Fail(node, "missing shape input");
        if (constant(shapeName) is not { Type: ElementType.Int64 } t)
            throw Fail(node, $"shape '{shapeName}' must be a constant int64 initializer");
        return ResolveReshape(node, x, t.Longs, node.Int("allowzero", 0) != 0);
    }

    /// <summary>The concrete target of a Reshape of <paramref name="x"/> to <paramref name="target"/> (0 copies, -1 infers).</summary>
    internal static long[] ResolveReshape(Node node, long[] x, IReadOnlyList<long> target, bool allowZero)
    {
        var result = target.ToArray();
        long total = TensorData.ElementCount(x), known = 1;
        int infer = -1;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == 0 && !allowZero)
            {
                if (i >= x.Length) throw Fail(node, $"shape copies dimension {i}, but the input has rank {x.Length}");
                result[i] = x[i];
            }
            if (result[i] == -1)
            {
                if (infer >= 0) throw Fail(node, "shape has more than one -1");
                infer = i;
            }
            else if (result[i] < 0) throw Fail(node, $"shape has a negative dimension {result[i]}");
            else known *= result[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || total % known != 0) throw Fail(node, $"cannot reshape {TensorData.FormatShape(x)} to [{string.Join(",", target)}]");
            result[infer] = total / known;
        }
        if (TensorData.ElementCount(result) != total)
            throw Fail(node, $"cannot reshape {TensorData.FormatShape(x)} ({total} elements) to {TensorData.FormatShape(result)}");
        return result;
    }

    /// <summary>Transpose's permutation: the perm attribute, or the reversed axes when absent.</summary>
    internal static int[] Permutation(Node node, int rank)
    {
        var perm = node.Ints("perm")?.Select(p => (int)p).ToArray() ?? Enumerable.Range(0, rank).Reverse().ToArray();
        if (perm.Length != rank || perm.Order().Where((p, i) => p != i).Any())
            throw Fail(node, $"perm [{string.Join(",", perm)}] is not a permutation of {rank} axes");
        return perm;
    }

    /// <summary>One sliced axis: the first index, the step, and how many elements are taken.</summary>
    internal readonly record struct SliceRange(long Start, long Step, long Count);

    /// <summary>ONNX Slice semantics (clamping, negative indices and steps) resolved against the input shape, per sliced axis.</summary>
    internal static List<(int Axis, SliceRange Range)> SliceRanges(Node node, long[] x, Func<string, TensorData?> constant)
    {
        long[] Const(int i, string what)
        {
            var name = node.InputOrNull(i) ?? throw Fail(node, $"missing {what} input");
            return constant(name) is { Type: ElementType.Int64 } t ? t.Longs : throw Fail(node, $"{what} '{name}' must be a constant int64 initializer");
        }
        var starts = Const(1, "starts");
        var ends = Const(2, "ends");
        var axes = node.InputOrNull(3) is not null ? Const(3, "axes") : Enumerable.Range(0, starts.Length).Select(a => (long)a).ToArray();
        var steps = node.InputOrNull(4) is not null ? Const(4, "steps") : Enumerable.Repeat(1L, starts.Length).ToArray();
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw Fail(node, "starts, ends, axes and steps differ in length");
        var result = new List<(int, SliceRange)>();
        foreach (var k in Enumerable.Range(0, starts.Length))
        {
            int axis = Axis(node, axes[k], x.Length);
            if (result.Any(r => r.Item1 == axis)) throw Fail(node, $"axis {axis} is sliced twice");
            long dim = x[axis], step = steps[k];
            if (step == 0) throw Fail(node, "a step is 0");
            long start = starts[k] < 0 ? starts[k] + dim : starts[k];
            long end = ends[k] < 0 && ends[k] > long.MinValue / 2 ? ends[k] + dim : ends[k];
            if (step > 0)
            {
                start = Math.Clamp(start, 0, dim);
                end = Math.Clamp(end, 0, dim);
                result.Add((axis, new SliceRange(start, step, end > start ? (end - start + step - 1) / step : 0)));
            }
            else
            {
                start = Math.Clamp(start, 0, dim - 1);
                end = Math.Clamp(end, -1, dim - 1);
                result.Add((axis, new SliceRange(start, step, start > end ? (start - end - step - 1) / -step : 0)));
            }
        }
        return result;
    }

    /// <summary>Pad's pads (begin values for every axis, then end values) from its constant int64 input.</summary>
    internal static long[] PadAmounts(Node node, int rank, Func<string, TensorData?> constant)
    {
        var name = node.InputOrNull(1) ?? throw Fail(node, "missing pads input");
        if (constant(name) is not { Type: ElementType.Int64 } t) throw Fail(node, $"pads '{name}' must be a constant int64 initializer");
        if (t.Longs.Length != 2 * rank) throw Fail(node, $"pads has {t.Longs.Length} values, expected {2 * rank} for rank {rank}");
        return t.Longs;
    }
}
