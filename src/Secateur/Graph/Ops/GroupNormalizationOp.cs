namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX GroupNormalization: X, scale, bias; the channels split into <c>num_groups</c> groups of C/G consecutive
/// channels, each normalised over its channels and spatial values. Opset 18 gives scale and bias one value per group,
/// opset 21 one per channel; both are read (by their length).
/// </summary>
/// <remarks>
/// Channel rule: whole norm groups go. Of the two ways to prune through it, removing an equal number of channels from
/// every group changes each group's mean and variance (the pruned model would differ from the zeroed one, and from the
/// original in every kept channel), so it is never exact; removing whole norm groups is (the other groups' statistics
/// do not change, num_groups drops by the groups removed), so the channels pass through with runs of C/G tied
/// (<see cref="ChannelRule.PassThrough.Chunk"/>) and scale and bias lose the same entries. The per-group form (opset 18's
/// scale per group, which the importer spreads per channel) is blocked when built in code.
/// </remarks>
internal sealed class GroupNormalizationOp() : OpDefinition(OpKind.GroupNormalization, 3, 3)
{
    public override int MinOpset => 18;

    public override void Validate(Node node, ModelGraph graph)
    {
        RequireInitializerWeights(node, graph);
        if (node.Int("num_groups", 0) <= 0) throw Fail(node, "num_groups must be a positive integer");
    }

    /// <summary>Opset 21 gave scale and bias one value per channel; opsets 18–20 take one per group.</summary>
    internal const int PerChannelOpset = 21;

    public override IEnumerable<string> OpsetProblems(Node node, ModelGraph graph, int opset)
    {
        foreach (var p in OpsetProblems(node, opset)) yield return p;
        long groups = node.Int("num_groups", 1);
        if (opset >= MinOpset && opset < PerChannelOpset && node.Inputs.Skip(1).Any(i => graph.Initializers[i].Count != groups))
            yield return $"node '{node.Name}' (GroupNormalization) has a scale and bias per channel, which needs opset {PerChannelOpset} (opsets 18–20 take one per group)";
    }

    // Opsets 18–20 with a scale and bias that are the same across each group: the per-group form. Otherwise the form
    // exporters write before opset 18, Reshape (N, G, -1) → InstanceNormalization → Reshape back → Mul → Add, which
    // the importer folds into this op again.
    public override IReadOnlyList<Node>? Lower(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes, int opset)
    {
        var l = new Lowering(node, graph);
        var x = shapes[node.Inputs[0]];
        long channels = x[1], groups = node.Int("num_groups", 1), per = channels / groups;
        var scale = PerChannel(graph.Initializers[node.Inputs[1]], channels, groups);
        var bias = PerChannel(graph.Initializers[node.Inputs[2]], channels, groups);
        var epsilon = ("epsilon", AttributeValue.Of(node.Float("epsilon", 1e-5f)));
        if (opset >= MinOpset && SameInGroups(scale, per) && SameInGroups(bias, per))
        {
            float[] PerGroup(float[] v) => Enumerable.Range(0, (int)groups).Select(g => v[g * per]).ToArray();
            l.Add(OpKind.GroupNormalization, [node.Inputs[0], l.Floats(PerGroup(scale), groups), l.Floats(PerGroup(bias), groups)], last: true,
                ("num_groups", AttributeValue.Of(groups)), epsilon);
            return l.Nodes;
        }
        var grouped = l.Add(OpKind.Reshape, [node.Inputs[0], l.Longs(0, groups, -1)]); // (N, G, C/G·H·W)
        var normed = l.Add(OpKind.InstanceNormalization, [grouped, l.Floats(Enumerable.Repeat(1f, (int)groups).ToArray(), groups),
            l.Floats(new float[groups], groups)], false, epsilon);
        var back = l.Add(OpKind.Reshape, [normed, l.Longs([0, .. x[1..]])]); // (N, C, H, W)
        long[] perChannel = [channels, .. Enumerable.Repeat(1L, x.Length - 2)]; // (C, 1, 1)
        var scaled = l.Add(OpKind.Mul, [back, l.Floats(scale, perChannel)]);
        l.Add(OpKind.Add, [scaled, l.Floats(bias, perChannel)], last: true);
        return l.Nodes;
    }

    private static float[] PerChannel(TensorData t, long channels, long groups) =>
        t.Count == channels ? (float[])t.Floats.Clone() : Enumerable.Range(0, (int)channels).Select(c => t.Floats[c / (channels / groups)]).ToArray();

    private static bool SameInGroups(float[] v, long per) => v.Select((f, c) => f == v[c - c % per]).All(b => b);

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

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        long channels = shapes[node.Inputs[0]][1], groups = node.Int("num_groups", 1);
        if (node.Inputs.Skip(1).Any(i => shapes[i][0] != channels))
            return new ChannelRule.Block($"'{node.Name}' (GroupNormalization) has one scale per group; Secateur prunes the per-channel form (which import makes)");
        return new ChannelRule.PassThrough([new ChannelTensor(node.Inputs[1], 0), new ChannelTensor(node.Inputs[2], 0)], Chunk: channels / groups);
    }

    // Whole norm groups went: the group count follows the channels left, at the original's channels per group.
    public override Node RewriteAfterPruning(Node node, ModelGraph original, ModelGraph pruned)
    {
        long before = original.Initializers[node.Inputs[1]].Shape[0], after = pruned.Initializers[node.Inputs[1]].Shape[0];
        if (before == after) return node;
        long per = before / node.Int("num_groups", 1);
        var attrs = node.Attributes.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        attrs["num_groups"] = AttributeValue.Of(after / per);
        return node.With(attributes: attrs);
    }
}
