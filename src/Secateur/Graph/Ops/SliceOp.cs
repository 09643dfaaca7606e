namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Slice (opset 10+ form): data, starts, ends[, axes[, steps]], the ranges constant int64 initializers.
/// Channels are followed while it slices only spatial axes.
/// </summary>
internal sealed class SliceOp() : OpDefinition(OpKind.Slice, 3, 5)
{
    public override bool IsConstantInput(int index) => index >= 1;

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var result = (long[])x.Clone();
        foreach (var (axis, range) in Ranges(node, x, constant)) result[axis] = range.Count;
        return result;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var ranges = Ranges(node, shapes[node.Inputs[0]], v => graph.Initializers.GetValueOrDefault(v));
        return new ChannelRule.SpatialOnly(ranges.Any(r => r.Axis <= 1)
            ? $"'{node.Name}' (Slice) slices the {(ranges.Any(r => r.Axis == 1) ? "channel" : "batch")} axis"
            : null);
    }

    /// <summary>One sliced axis: the first index, the step, and how many elements are taken.</summary>
    internal readonly record struct Range(long Start, long Step, long Count);

    /// <summary>ONNX Slice semantics (clamping, negative indices and steps) resolved against the input shape, per sliced axis.</summary>
    internal static List<(int Axis, Range Range)> Ranges(Node node, long[] x, Func<string, TensorData?> constant)
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
        var result = new List<(int, Range)>();
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
                result.Add((axis, new Range(start, step, end > start ? (end - start + step - 1) / step : 0)));
            }
            else
            {
                start = Math.Clamp(start, 0, dim - 1);
                end = Math.Clamp(end, -1, dim - 1);
                result.Add((axis, new Range(start, step, start > end ? (start - end - step - 1) / -step : 0)));
            }
        }
        return result;
    }
}
