using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Onnx;

/// <summary>
/// Evaluates the ONNX ops exporters use for shape arithmetic (Shape → Gather → Unsqueeze → Concat → Reshape and
/// friends) on constant tensors, so that the importer can fold them away. Managed code only: importing a file
/// never loads libtorch.
/// </summary>
internal static class ConstantEvaluator
{
    /// <summary>The op types <see cref="Evaluate"/> understands.</summary>
    public static readonly IReadOnlySet<string> Ops = new HashSet<string>(StringComparer.Ordinal)
    {
        "Identity", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Reshape", "Transpose", "Flatten",
        "Add", "Sub", "Mul", "Div", "Neg", "ConstantOfShape", "Range",
    };

    /// <summary>
    /// The output of <paramref name="op"/> on constant inputs (null for an omitted optional input).
    /// <paramref name="value"/> is ConstantOfShape's value attribute.
    /// </summary>
    public static TensorData Evaluate(Node node, string op, IReadOnlyList<TensorData?> ins, TensorData? value)
    {
        TensorData In(int i) => i < ins.Count && ins[i] is { } t ? t : throw Fail(node, op, $"missing input {i}");
        switch (op)
        {
            case "Identity": return In(0);
            case "Cast":
                {
                    var x = In(0);
                    long to = node.Int("to", 0);
                    return to switch
                    {
                        1 or 11 => x.Type == ElementType.Float ? x : TensorData.FromFloats(Array.ConvertAll(x.Longs, v => (float)v), x.Shape),
                        6 or 7 => x.Type == ElementType.Int64 ? x : TensorData.FromLongs(Array.ConvertAll(x.Floats, v => (long)v), x.Shape),
                        _ => throw Unsupported(node, op, $"cast to ONNX type {to}"),
                    };
                }
            case "Gather":
                {
                    var x = In(0);
                    var idx = In(1);
                    if (idx.Type != ElementType.Int64) throw Fail(node, op, "indices must be integers");
                    int axis = Axis(node, op, node.Int("axis", 0), x.Shape.Length);
                    long dim = x.Shape[axis];
                    var outShape = x.Shape[..axis].Concat(idx.Shape).Concat(x.Shape[(axis + 1)..]).ToArray();
                    long inner = TensorData.ElementCount(x.Shape[(axis + 1)..]);
                    long count = idx.Count;
                    return Take(x, outShape, o =>
                    {
                        long outer = o / (count * inner), rest = o % (count * inner);
                        long k = idx.Longs[rest / inner];
                        if (k < 0) k += dim;
                        if (k < 0 || k >= dim) throw Fail(node, op, $"index {idx.Longs[rest / inner]} is out of range for dimension {dim}");
                        return (outer * dim + k) * inner + rest % inner;
                    });
                }
            case "Unsqueeze":
                {
                    var x = In(0);
                    var axes = AxesOf(node, ins, 1) ?? throw Fail(node, op, "no axes");
                    int rank = x.Shape.Length + axes.Length;
                    var norm = axes.Select(a => Axis(node, op, a, rank)).ToHashSet();
                    var shape = new long[rank];
                    for (int i = 0, k = 0; i < rank; i++) shape[i] = norm.Contains(i) ? 1 : x.Shape[k++];
                    return Reshaped(x, shape);
                }
            case "Squeeze":
                {
                    var x = In(0);
                    var axes = AxesOf(node, ins, 1);
                    var drop = axes is null
                        ? Enumerable.Range(0, x.Shape.Length).Where(i => x.Shape[i] == 1).ToHashSet()
                        : axes.Select(a => Axis(node, op, a, x.Shape.Length)).ToHashSet();
                    if (drop.Any(i => x.Shape[i] != 1)) throw Fail(node, op, "squeezes a dimension that is not 1");
                    return Reshaped(x, x.Shape.Where((_, i) => !drop.Contains(i)).ToArray());
                }
            case "Flatten":
                {
                    var x = In(0);
                    int axis = Axis(node, op, node.Int("axis", 1), x.Shape.Length + 1);
                    return Reshaped(x, [TensorData.ElementCount(x.Shape[..axis]), TensorData.ElementCount(x.Shape[axis..])]);
                }
            case "Reshape":
                {
                    var x = In(0);
                    var target = In(1);
                    if (target.Type != ElementType.Int64) throw Fail(node, op, "shape must be int64");
                    return Reshaped(x, ReshapeOp.Resolve(node, x.Shape, target.Longs, node.Int("allowzero", 0) != 0));
                }
            case "Concat":
                {
                    var parts = ins.Where(t => t is not null).Select(t => t!).ToList();
                    if (parts.Count == 0) throw Fail(node, op, "no inputs");
                    if (parts.Any(p => p.Type != parts[0].Type)) throw Fail(node, op, "inputs differ in element type");
                    int rank = parts[0].Shape.Length;
                    int axis = Axis(node, op, node.Int("axis", 0), rank);
                    var shape = (long[])parts[0].Shape.Clone();
                    shape[axis] = parts.Sum(p => p.Shape.Length == rank ? p.Shape[axis] : throw Fail(node, op, "inputs differ in rank"));
                    long outer = TensorData.ElementCount(shape[..axis]), inner = TensorData.ElementCount(shape[(axis + 1)..]);
                    var floats = new List<float>();
                    var longs = new List<long>();
                    for (long o = 0; o < outer; o++)
                        foreach (var p in parts)
                        {
                            long block = p.Shape[axis] * inner;
                            if (p.Type == ElementType.Float) floats.AddRange(p.Floats.AsSpan((int)(o * block), (int)block).ToArray());
                            else longs.AddRange(p.Longs.AsSpan((int)(o * block), (int)block).ToArray());
                        }
                    return parts[0].Type == ElementType.Float ? TensorData.FromFloats([.. floats], shape) : TensorData.FromLongs([.. longs], shape);
                }
            case "Slice":
                {
                    var x = In(0);
                    var names = new[] { "data", "starts", "ends", "axes", "steps" };
                    var lookup = new Dictionary<string, TensorData>(StringComparer.Ordinal);
                    var sliceNode = new Node(node.Name, OpKind.Slice,
                        Enumerable.Range(0, Math.Min(ins.Count, 5)).Select(i => ins[i] is null ? "" : names[i]), ["out"]);
                    for (int i = 1; i < Math.Min(ins.Count, 5); i++) if (ins[i] is { } t) lookup[names[i]] = t;
                    var ranges = SliceOp.Ranges(sliceNode, x.Shape, n => lookup.GetValueOrDefault(n));
                    var shape = (long[])x.Shape.Clone();
                    foreach (var (a, r) in ranges) shape[a] = r.Count;
                    var inStrides = Strides(x.Shape);
                    var outStrides = Strides(shape);
                    var byAxis = ranges.ToDictionary(r => r.Axis, r => r.Range);
                    return Take(x, shape, o =>
                    {
                        long src = 0;
                        for (int d = 0; d < shape.Length; d++)
                        {
                            long i = o / outStrides[d] % shape[d];
                            if (byAxis.TryGetValue(d, out var r)) i = r.Start + i * r.Step;
                            src += i * inStrides[d];
                        }
                        return src;
                    });
                }
            case "Transpose":
                {
                    var x = In(0);
                    var perm = TransposeOp.Permutation(node, x.Shape.Length);
                    var shape = perm.Select(p => x.Shape[p]).ToArray();
                    var inStrides = Strides(x.Shape);
                    var outStrides = Strides(shape);
                    return Take(x, shape, o =>
                    {
                        long src = 0;
                        for (int d = 0; d < shape.Length; d++) src += o / outStrides[d] % shape[d] * inStrides[perm[d]];
                        return src;
                    });
                }
            case "Add" or "Sub" or "Mul" or "Div": return Arithmetic(node, op, In(0), In(1));
            case "Neg":
                {
                    var x = In(0);
                    return x.Type == ElementType.Float ? TensorData.FromFloats(Array.ConvertAll(x.Floats, v => -v), x.Shape)
                        : TensorData.FromLongs(Array.ConvertAll(x.Longs, v => -v), x.Shape);
                }
            case "ConstantOfShape":
                {
                    var s = In(0);
                    if (s.Type != ElementType.Int64 || s.Longs.Any(d => d < 0)) throw Fail(node, op, "shape must be non-negative integers");
                    var fill = value ?? TensorData.FromFloats([0f], 1);
                    long n = TensorData.ElementCount(s.Longs);
                    if (fill.Type == ElementType.Float)
                    {
                        var data = new float[n];
                        Array.Fill(data, fill.Floats[0]);
                        return TensorData.FromFloats(data, s.Longs);
                    }
                    var longs = new long[n];
                    Array.Fill(longs, fill.Longs[0]);
                    return TensorData.FromLongs(longs, s.Longs);
                }
            case "Range":
                {
                    var (start, limit, delta) = (In(0), In(1), In(2));
                    if (start.Type != ElementType.Int64 || limit.Type != ElementType.Int64 || delta.Type != ElementType.Int64 || delta.Longs[0] == 0)
                        throw Unsupported(node, op, "a non-integer or zero-step range");
                    long d = delta.Longs[0], n = Math.Max(0, (limit.Longs[0] - start.Longs[0] + d - Math.Sign(d)) / d);
                    return TensorData.FromLongs(Enumerable.Range(0, (int)n).Select(i => start.Longs[0] + i * d).ToArray(), n);
                }
            default: throw Unsupported(node, op, "constant evaluation");
        }
    }

    /// <summary>Axes of Squeeze/Unsqueeze/ReduceMean: the attribute (older opsets) or the constant input.</summary>
    internal static long[]? AxesOf(Node node, IReadOnlyList<TensorData?> ins, int inputIndex)
    {
        if (node.Ints("axes") is { } attr) return [.. attr];
        return inputIndex < ins.Count && ins[inputIndex] is { Type: ElementType.Int64 } t ? t.Longs : null;
    }

    private static TensorData Arithmetic(Node node, string op, TensorData a, TensorData b)
    {
        if (a.Type != b.Type) throw Fail(node, op, "operands differ in element type");
        var shape = ShapeInference.Broadcast(node, a.Shape, b.Shape);
        var outStrides = Strides(shape);
        long Index(long o, long[] s)
        {
            long idx = 0, stride = 1;
            for (int d = s.Length - 1, od = shape.Length - 1; d >= 0; d--, od--)
            {
                long i = s[d] == 1 ? 0 : o / outStrides[od] % shape[od];
                idx += i * stride;
                stride *= s[d];
            }
            return idx;
        }
        long n = TensorData.ElementCount(shape);
        if (a.Type == ElementType.Float)
        {
            var r = new float[n];
            for (long o = 0; o < n; o++)
            {
                float x = a.Floats[Index(o, a.Shape)], y = b.Floats[Index(o, b.Shape)];
                r[o] = op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y };
            }
            return TensorData.FromFloats(r, shape);
        }
        var l = new long[n];
        for (long o = 0; o < n; o++)
        {
            long x = a.Longs[Index(o, a.Shape)], y = b.Longs[Index(o, b.Shape)];
            if (op == "Div" && y == 0) throw Fail(node, op, "integer division by zero");
            // ONNX integer Div truncates, as C# does.
            l[o] = op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y };
        }
        return TensorData.FromLongs(l, shape);
    }

    private static TensorData Reshaped(TensorData x, long[] shape) =>
        x.Type == ElementType.Float ? TensorData.FromFloats(x.Floats, shape) : TensorData.FromLongs(x.Longs, shape);

    private static TensorData Take(TensorData x, long[] shape, Func<long, long> source)
    {
        long n = TensorData.ElementCount(shape);
        if (x.Type == ElementType.Float)
        {
            var f = new float[n];
            for (long o = 0; o < n; o++) f[o] = x.Floats[source(o)];
            return TensorData.FromFloats(f, shape);
        }
        var l = new long[n];
        for (long o = 0; o < n; o++) l[o] = x.Longs[source(o)];
        return TensorData.FromLongs(l, shape);
    }

    internal static long[] Strides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= Math.Max(1, shape[d]); }
        return s;
    }

    private static int Axis(Node node, string op, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw Fail(node, op, $"axis {axis} is out of range for rank {rank}");
        return (int)a;
    }

    private static SecateurException Fail(Node node, string op, string why) =>
        new(ErrorCode.InvalidGraph, $"node '{node.Name}' ({op}): {why}");

    private static SecateurException Unsupported(Node node, string op, string what) =>
        new(ErrorCode.UnsupportedOp, $"node '{node.Name}' ({op}): {what} is not supported");
}
