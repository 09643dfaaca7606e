namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Slice (opset 10+ form): data, starts, ends[, axes[, steps]], the ranges constant int64 initializers (a Split
/// imports as one Slice per output). A step-1 range of the channel axis — <c>chunk</c> in a YOLO C2f or CSP block — is a
/// sub-range of the channels, which the dependency graph keeps as groups of their own; after a prune the range is
/// rewritten to the channels of it that are kept.
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
        return new ChannelRule.Take(ranges.Select(r => new ChannelRule.TakenRange(r.Axis, r.Range.Start, r.Range.Step, r.Range.Count)).ToList());
    }

    // The range of an axis that lost channels becomes the kept channels of it: [kept before start, kept before end).
    public override Node RewriteAfterPruning(Node node, ModelGraph original, ModelGraph pruned, IPrunedChannels channels)
    {
        var input = node.Inputs[0];
        var ranges = Ranges(node, channels.OriginalShape(input), v => pruned.Initializers.GetValueOrDefault(v));
        var starts = (long[])pruned.Initializers[node.Inputs[1]].Longs.Clone();
        var ends = (long[])pruned.Initializers[node.Inputs[2]].Longs.Clone();
        bool changed = false;
        for (int k = 0; k < ranges.Count; k++)
        {
            var (axis, r) = ranges[k];
            long start = channels.KeptBefore(input, axis, r.Start), end = channels.KeptBefore(input, axis, r.Start + r.Count);
            if (start == r.Start && end - start == r.Count) continue;
            // The dependency graph follows only step-1 ranges of the channels; any other would have blocked them.
            if (r.Step != 1) throw new InvalidOperationException($"'{node.Name}': channels were pruned along an axis sliced in steps of {r.Step}");
            (starts[k], ends[k], changed) = (start, end, true);
        }
        if (!changed) return node;
        var inputs = node.Inputs.ToList();
        inputs[1] = AddConstant(pruned, node.Name + "/starts", TensorData.FromLongs(starts, [starts.Length]));
        inputs[2] = AddConstant(pruned, node.Name + "/ends", TensorData.FromLongs(ends, [ends.Length]));
        return node.With(inputs: inputs);
    }

    // A new initializer: the old range may be shared with other Slices, whose chunks are not this one's.
    private static string AddConstant(ModelGraph graph, string name, TensorData value)
    {
        var unique = name;
        for (int i = 1; graph.Initializers.ContainsKey(unique); i++) unique = $"{name}.{i}";
        graph.Initializers.Add(unique, value);
        return unique;
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
