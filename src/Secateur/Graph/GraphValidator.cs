using Secateur.Graph.Ops;

namespace Secateur.Graph;

/// <summary>
/// Rejects a malformed <see cref="ModelGraph"/> with a message naming the offending node: duplicate names,
/// values used before they are written or written twice, wrong input counts, missing attributes, and
/// inconsistent shapes (via <see cref="ShapeInference"/>). Arity and per-op checks come from each node's
/// <see cref="OpDefinition"/>; an op without one is UnsupportedOp.
/// </summary>
public static class GraphValidator
{
    /// <summary>Throws <see cref="SecateurException"/> (InvalidGraph) describing the first problem found.</summary>
    public static void Validate(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.Inputs.Count == 0) throw Invalid("the graph has no inputs");
        if (graph.Outputs.Count == 0) throw Invalid("the graph has no outputs");
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
            if (!defined.Add(i.Name)) throw Invalid($"graph input '{i.Name}' is declared twice");
        foreach (var name in graph.Initializers.Keys)
            if (!defined.Add(name)) throw Invalid($"initializer '{name}' has the same name as a graph input");
        var nodeNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (!nodeNames.Add(node.Name)) throw Invalid($"node name '{node.Name}' is used twice");
            var definition = OpRegistry.For(node);
            var (min, max) = (definition.MinInputs, definition.MaxInputs);
            if (node.Inputs.Count < min || node.Inputs.Count > max)
                throw Invalid($"node '{node.Name}' ({node.Op}) has {node.Inputs.Count} inputs, expected {(min == max ? $"{min}" : max == int.MaxValue ? $"at least {min}" : $"{min} to {max}")}");
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                var v = node.Inputs[k];
                if (v.Length == 0)
                {
                    if (k < min) throw Invalid($"node '{node.Name}' ({node.Op}): required input {k} is empty");
                    continue;
                }
                if (!defined.Contains(v)) throw Invalid($"node '{node.Name}' ({node.Op}) reads '{v}', which no earlier node, input or initializer defines");
            }
            if (node.Outputs.Count == 0) throw Invalid($"node '{node.Name}' ({node.Op}) has no output");
            foreach (var o in node.Outputs.Where(o => o.Length > 0))
                if (!defined.Add(o)) throw Invalid($"node '{node.Name}' ({node.Op}) writes '{o}', which is already defined");
            definition.Validate(node, graph);
        }
        foreach (var o in graph.Outputs)
            if (!defined.Contains(o.Name)) throw Invalid($"graph output '{o.Name}' is never written");
        ShapeInference.Infer(graph);
    }

    private static SecateurException Invalid(string why) => new(ErrorCode.InvalidGraph, why);
}
