using Secateur.Graph;

namespace Secateur.Onnx;

/// <summary>
/// Recognises the GroupNorm that exporters before opset 18 write out (PyTorch's <c>nn.GroupNorm</c> at opsets 11–17):
/// <c>Reshape(x, [N, G, -1]) → InstanceNormalization(·, s, b) → Reshape(·, shape of x) → Mul(·, γ) → Add(·, β)</c>,
/// the second Reshape's target already folded from <c>Shape(x)</c>, and Mul and Add present only for an affine norm.
/// It becomes one <see cref="OpKind.GroupNormalization"/> node with per-channel scale <c>s[g]·γ[c]</c> and bias
/// <c>b[g]·γ[c] + β[c]</c> (g the group of channel c), so that the norm's groups are one op the dependency graph can
/// prune through. A per-group GroupNormalization (opset 18's form) gets its scale and bias spread per channel too,
/// so that Secateur holds one form; saving writes the per-group form again where it is exact.
/// </summary>
internal static class GroupNormPattern
{
    /// <summary>Rewrites every occurrence in <paramref name="graph"/> in place; returns how many were folded.</summary>
    public static int Fold(ModelGraph graph)
    {
        var shapes = ShapeInference.Infer(graph);
        var outputs = graph.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        int folded = 0;
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (node.Op == OpKind.GroupNormalization) { SpreadPerGroup(graph, node, shapes); continue; }
            if (Match(graph, node, shapes, outputs) is not { } m) continue;
            var x = node.Inputs[0];
            long channels = shapes[x][1], groups = shapes[node.Output][1], per = channels / groups;
            var s = graph.Initializers[m.Norm.Inputs[1]].Floats;
            var b = graph.Initializers[m.Norm.Inputs[2]].Floats;
            var gamma = m.Mul is null ? null : graph.Initializers[ConstantOperand(graph, m.Mul)!].Floats;
            var beta = m.Add is null ? null : graph.Initializers[ConstantOperand(graph, m.Add)!].Floats;
            var scale = new float[channels];
            var bias = new float[channels];
            for (long c = 0; c < channels; c++)
            {
                float gc = gamma is null ? 1f : gamma.Length == 1 ? gamma[0] : gamma[c];
                float bc = beta is null ? 0f : beta.Length == 1 ? beta[0] : beta[c];
                scale[c] = s[c / per] * gc;
                bias[c] = b[c / per] * gc + bc;
            }
            var last = m.Add ?? m.Mul ?? m.Back;
            // PyTorch names the nodes after the module (/norms.1/InstanceNormalization): the node is named for what it is.
            var name = m.Norm.Name.EndsWith("InstanceNormalization", StringComparison.Ordinal)
                && m.Norm.Name[..^"InstanceNormalization".Length] + "GroupNormalization" is var renamed && graph.FindNode(renamed) is null ? renamed : m.Norm.Name;
            var scaleName = Fresh(graph, $"{name}.scale");
            graph.Initializers.Add(scaleName, TensorData.FromFloats(scale, channels));
            var biasName = Fresh(graph, $"{name}.bias");
            graph.Initializers.Add(biasName, TensorData.FromFloats(bias, channels));
            var gn = new Node(name, OpKind.GroupNormalization, [x, scaleName, biasName], [last.Output],
                [KeyValuePair.Create("num_groups", AttributeValue.Of(groups)), KeyValuePair.Create("epsilon", AttributeValue.Of(m.Norm.Float("epsilon", 1e-5f)))]);
            var gone = new[] { node, m.Norm, m.Back, m.Mul, m.Add }.OfType<Node>().ToHashSet();
            var constants = gone.SelectMany(n => n.Inputs.Skip(1)).Where(graph.IsInitializer).ToList();
            graph.Nodes.RemoveAll(gone.Contains);
            graph.Nodes.Insert(i, gn);
            foreach (var c in constants.Distinct().Where(c => !graph.Nodes.Any(n => n.Inputs.Contains(c)) && !outputs.Contains(c)))
                graph.Initializers.Remove(c);
            folded++;
        }
        return folded;
    }

    private sealed record Chain(Node Norm, Node Back, Node? Mul, Node? Add);

    /// <summary>The chain starting at <paramref name="reshape"/>, when it is the written-out GroupNorm.</summary>
    private static Chain? Match(ModelGraph graph, Node reshape, Dictionary<string, long[]> shapes, HashSet<string> outputs)
    {
        if (reshape.Op != OpKind.Reshape) return null;
        var x = shapes[reshape.Inputs[0]];
        var r = shapes[reshape.Output];
        // (N, C, ...) → (N, G, C/G·...): G groups of consecutive channels.
        if (x.Length < 3 || r.Length != 3 || r[0] != x[0] || r[1] <= 0 || x[1] % r[1] != 0 || TensorData.ElementCount(x) != TensorData.ElementCount(r)) return null;
        if (Only(graph, reshape, outputs) is not { Op: OpKind.InstanceNormalization } norm || norm.Inputs[0] != reshape.Output) return null;
        if (!graph.IsInitializer(norm.Inputs[1]) || !graph.IsInitializer(norm.Inputs[2])) return null;
        if (Only(graph, norm, outputs) is not { Op: OpKind.Reshape } back || back.Inputs[0] != norm.Output || !shapes[back.Output].SequenceEqual(x)) return null;
        var mul = Only(graph, back, outputs) is { Op: OpKind.Mul } m && PerChannel(graph, m, x) ? m : null;
        var add = mul is not null && Only(graph, mul, outputs) is { Op: OpKind.Add } a && PerChannel(graph, a, x) ? a : null;
        return new Chain(norm, back, mul, add);
    }

    /// <summary>The one node reading <paramref name="node"/>'s output, when it is not also a graph output.</summary>
    private static Node? Only(ModelGraph graph, Node node, HashSet<string> outputs)
    {
        if (outputs.Contains(node.Output)) return null;
        var readers = graph.Consumers(node.Output).Take(2).ToList();
        return readers.Count == 1 ? readers[0] : null;
    }

    private static string? ConstantOperand(ModelGraph graph, Node node) =>
        node.Inputs.Count == 2 ? node.Inputs.FirstOrDefault(graph.IsInitializer) : null;

    /// <summary>True when <paramref name="node"/> combines its other operand with a float constant per channel (or a scalar).</summary>
    private static bool PerChannel(ModelGraph graph, Node node, long[] x)
    {
        if (ConstantOperand(graph, node) is not { } c || node.Inputs.Count(graph.IsInitializer) != 1) return false;
        var t = graph.Initializers[c];
        if (t.Type != ElementType.Float) return false;
        if (t.Count == 1) return t.Shape.Length <= x.Length;
        // (C, 1, ...) aligned with axis 1 of x, optionally with a leading 1.
        int axis = t.Shape.Length - (x.Length - 1);
        return axis is 0 or 1 && (axis == 0 || t.Shape[0] == 1) && t.Shape[axis] == x[1] && t.Shape.Skip(axis + 1).All(d => d == 1);
    }

    /// <summary>Opset 18's per-group scale and bias, one value per channel instead.</summary>
    private static void SpreadPerGroup(ModelGraph graph, Node node, Dictionary<string, long[]> shapes)
    {
        long channels = shapes[node.Inputs[0]][1], groups = node.Int("num_groups", 1);
        if (groups == channels) return;
        for (int k = 1; k <= 2; k++)
        {
            var t = graph.Initializers[node.Inputs[k]];
            if (t.Shape[0] != groups) continue;
            var spread = new float[channels];
            for (long c = 0; c < channels; c++) spread[c] = t.Floats[c / (channels / groups)];
            // Another node may read the same tensor in its own way: give this one its own copy.
            var name = graph.Nodes.Count(n => n.Inputs.Contains(node.Inputs[k])) == 1 ? node.Inputs[k] : Fresh(graph, $"{node.Name}.{(k == 1 ? "scale" : "bias")}");
            graph.Initializers[name] = TensorData.FromFloats(spread, channels);
            var inputs = node.Inputs.ToArray();
            inputs[k] = name;
            var index = graph.Nodes.IndexOf(node);
            graph.Nodes[index] = node = node.With(inputs: inputs);
        }
    }

    private static string Fresh(ModelGraph graph, string name)
    {
        var taken = graph.Nodes.SelectMany(n => n.Inputs.Concat(n.Outputs)).Concat(graph.Inputs.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
        var candidate = name;
        for (int k = 1; graph.IsInitializer(candidate) || taken.Contains(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }
}
