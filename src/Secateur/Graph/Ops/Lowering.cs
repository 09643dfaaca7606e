namespace Secateur.Graph.Ops;

/// <summary>
/// Writes the nodes an op is lowered to (<see cref="OpDefinition.Lower"/>): each named after the lowered node, the
/// last one writing its output, and the constants they read added to the graph being saved under names no value has.
/// </summary>
internal sealed class Lowering(Node node, ModelGraph graph)
{
    private readonly HashSet<string> _taken = graph.Nodes.SelectMany(n => n.Inputs.Concat(n.Outputs).Append(n.Name))
        .Concat(graph.Inputs.Select(i => i.Name)).Concat(graph.Initializers.Keys).ToHashSet(StringComparer.Ordinal);

    /// <summary>The nodes written so far, in order.</summary>
    public List<Node> Nodes { get; } = [];

    private string Fresh(string suffix)
    {
        var name = $"{node.Name}/{suffix}";
        var candidate = name;
        for (int k = 1; !_taken.Add(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    /// <summary>A float scalar constant.</summary>
    public string Scalar(float value)
    {
        var name = Fresh("c");
        graph.Initializers.Add(name, TensorData.FromFloats([value]));
        return name;
    }

    /// <summary>A float constant of the given shape.</summary>
    public string Floats(float[] values, params long[] shape)
    {
        var name = Fresh("c");
        graph.Initializers.Add(name, TensorData.FromFloats(values, shape));
        return name;
    }

    /// <summary>An int64 vector constant (a Reshape target).</summary>
    public string Longs(params long[] values)
    {
        var name = Fresh("shape");
        graph.Initializers.Add(name, TensorData.FromLongs(values, values.Length));
        return name;
    }

    /// <summary>Adds a node reading <paramref name="inputs"/>; returns its output (the lowered node's own when <paramref name="last"/>).</summary>
    public string Add(OpKind op, string[] inputs, bool last = false, params (string Key, AttributeValue Value)[] attributes)
    {
        var output = last ? node.Output : Fresh(op.ToString());
        Nodes.Add(new Node(last ? node.Name : Fresh(op.ToString()), op, inputs, [output],
            attributes.Select(a => KeyValuePair.Create(a.Key, a.Value))));
        return output;
    }
}
