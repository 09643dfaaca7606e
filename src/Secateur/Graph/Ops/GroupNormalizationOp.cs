namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX GroupNormalization: X, scale, bias; the channels split into <c>num_groups</c> groups of C/G consecutive
/// channels, each normalised over its channels and spatial values. Opset 18 gives scale and bias one value per group,
/// opset 21 one per channel; both are read (by their length).
/// </summary>
/// <remarks>
/// Channel rule: blocked. Of the two ways to prune through it, removing an equal number of channels from every group
/// changes each group's mean and variance (the pruned model would differ from the zeroed one), so it is never safe;
/// removing whole norm groups is exact (the other groups' statistics do not change, num_groups drops by the groups
/// removed), but it needs the C/G channels of a group removed together, a tie the dependency graph does not express
/// yet. Until it does, the groups read are blocked with that reason rather than pruned wrongly.
/// </remarks>
internal sealed class GroupNormalizationOp() : OpDefinition(OpKind.GroupNormalization, 3, 3)
{
    public override int MinOpset => 18;

    public override void Validate(Node node, ModelGraph graph)
    {
        RequireInitializerWeights(node, graph);
        if (node.Int("num_groups", 0) <= 0) throw Fail(node, "num_groups must be a positive integer");
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        if (x.Length < 3) throw Fail(node, $"input has rank {x.Length}, expected at least 3");
        long groups = node.Int("num_groups", 0);
        if (groups <= 0 || x[1] % groups != 0) throw Fail(node, $"{x[1]} channels do not split into {groups} groups");
        for (int i = 1; i <= 2; i++)
        {
            var p = Required(node, inputs, i);
            if (p.Length != 1 || p[0] != x[1] && p[0] != groups)
                throw Fail(node, $"parameter '{node.Inputs[i]}' has shape {TensorData.FormatShape(p)}, expected {x[1]} (per channel) or {groups} (per group)");
        }
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.Block($"'{node.Name}' (GroupNormalization) normalises groups of channels together: only whole groups could be removed, which Secateur does not do yet");
}
