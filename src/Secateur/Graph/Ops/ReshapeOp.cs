namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Reshape with a constant int64 shape input (0 copies a dimension unless allowzero, -1 infers one). Only the
/// exporters' form of Flatten, (batch, -1), is followed by the dependency graph: any other target names channel counts.
/// </summary>
internal sealed class ReshapeOp() : OpDefinition(OpKind.Reshape, 2, 2)
{
    public override bool IsConstantInput(int index) => index == 1;

    public override bool IsQuantizationPassThrough => true;

    public override IEnumerable<string> OpsetProblems(Node node, int opset)
    {
        if (node.Attributes.ContainsKey("allowzero") && opset < 14)
            yield return $"node '{node.Name}' (Reshape) uses allowzero, which needs opset 14";
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var shapeName = node.InputOrNull(1) ?? throw Fail(node, "missing shape input");
        if (constant(shapeName) is not { Type: ElementType.Int64 } t)
            throw Fail(node, $"shape '{shapeName}' must be a constant int64 initializer");
        return Resolve(node, First(node, inputs), t.Longs, node.Int("allowzero", 0) != 0);
    }

    /// <summary>The concrete target of a Reshape of <paramref name="x"/> to <paramref name="target"/> (0 copies, -1 infers).</summary>
    internal static long[] Resolve(Node node, long[] x, IReadOnlyList<long> target, bool allowZero)
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

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        // x.view(x.size(0), -1): a Flatten at axis 1 whose target names no channel count, so it stays right when channels go.
        var x = shapes[node.Inputs[0]];
        var target = graph.Initializers.GetValueOrDefault(node.Inputs[1])?.Longs;
        bool flatten = x.Length >= 2 && target is { Length: 2 } && target[1] == -1
                       && (target[0] == 0 && node.Int("allowzero", 0) == 0 || target[0] == x[0]);
        if (flatten) return new ChannelRule.Flatten(Product(x.Skip(2)));
        return new ChannelRule.Block($"'{node.Name}' (Reshape) regroups the channel axis"
            + (ShuffleGroups(node, x, target) is { } g ? $": it starts a channel shuffle of {g} groups, {ShuffleLimit(g)}" : ""));
    }

    // Why the shuffle stays blocked (issue 12). Reshape (N, g, C/g, H, W) → Transpose (0, 2, 1, 3, 4) → Reshape (N, C, H, W)
    // sends channel a·C/g + p to p·g + a. Pruned, the same three nodes (with C'/g) interleave whatever is kept, so the
    // pruned model equals the zeroed one only if every group keeps equal counts in interleaving order; the one rule of
    // that kind channel groups can say is "the same positions in every group", a tie of channel p across the g groups.
    // Its output then holds each tied channel g times in a row; at the next shuffle the other operand must be tied in
    // those g-wide runs too, so the tie grows g-fold per shuffle, and a Slice of the channels (ShuffleNet's chunk of
    // each unit's input) that falls inside a run cannot be followed: in shufflenet_v2_x1_0 (58 channels per half) the
    // third unit of a stage splits the second's 4-wide runs at 58. An exact prune of any removal would need the shuffle
    // rewritten as a Gather of the kept channels, a different graph than the one the user exported.
    private static string ShuffleLimit(long g) =>
        $"which a prune keeps exact only if every group loses the same positions: that ties channel p of all {g} groups, " +
        $"every further shuffle widens the tie {g}-fold, and the next split of the channels (ShuffleNet's chunk) cuts through such ties, so Secateur does not prune through a shuffle";

    /// <summary>The group count of the first Reshape of a channel shuffle, (N, C, H, W) → (N, g, C/g, H, W), or null.</summary>
    private static long? ShuffleGroups(Node node, long[] x, long[]? target)
    {
        if (target is not { Length: 5 } || x.Length != 4) return null;
        var to = Resolve(node, x, target, node.Int("allowzero", 0) != 0);
        return to[0] == x[0] && to[1] > 1 && to[1] * to[2] == x[1] && to[3] == x[2] && to[4] == x[3] ? to[1] : null;
    }
}
