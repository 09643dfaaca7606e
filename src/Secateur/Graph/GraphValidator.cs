namespace Secateur.Graph;

/// <summary>
/// Rejects a malformed <see cref="ModelGraph"/> with a message naming the offending node: duplicate names,
/// values used before they are written or written twice, wrong input counts, missing attributes, and
/// inconsistent shapes (via <see cref="ShapeInference"/>).
/// </summary>
public static class GraphValidator
{
    private static readonly Dictionary<OpKind, (int Min, int Max)> Arity = new()
    {
        [OpKind.Conv] = (2, 3), [OpKind.BatchNormalization] = (5, 5), [OpKind.Relu] = (1, 1), [OpKind.Clip] = (1, 3),
        [OpKind.Sigmoid] = (1, 1), [OpKind.HardSigmoid] = (1, 1), [OpKind.HardSwish] = (1, 1),
        [OpKind.Add] = (2, 2), [OpKind.Sub] = (2, 2), [OpKind.Mul] = (2, 2), [OpKind.Div] = (2, 2),
        [OpKind.Concat] = (1, int.MaxValue), [OpKind.MaxPool] = (1, 1), [OpKind.AveragePool] = (1, 1),
        [OpKind.GlobalAveragePool] = (1, 1), [OpKind.Flatten] = (1, 1), [OpKind.Reshape] = (2, 2),
        [OpKind.Gemm] = (2, 3), [OpKind.MatMul] = (2, 2), [OpKind.Dropout] = (1, 3), [OpKind.Identity] = (1, 1),
        [OpKind.Softmax] = (1, 1), [OpKind.Transpose] = (1, 1), [OpKind.Slice] = (3, 5), [OpKind.Pad] = (2, 3),
    };

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
            var (min, max) = Arity[node.Op];
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
            if (node.Op is OpKind.MaxPool or OpKind.AveragePool && node.Ints("kernel_shape") is null)
                throw Invalid($"node '{node.Name}' ({node.Op}) has no kernel_shape");
            if (node.Op == OpKind.Pad && node.String("mode", "constant") is not ("constant" or "reflect" or "edge"))
                throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Pad): mode '{node.String("mode", "")}' is not supported (constant, reflect, edge)");
            if (node.Op == OpKind.Pad && node.InputOrNull(2) is { } fill
                && (!graph.Initializers.TryGetValue(fill, out var f) || f.Type != ElementType.Float || f.Count != 1))
                throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Pad): constant_value '{fill}' must be a float scalar initializer");
            if (node.Op is OpKind.Conv or OpKind.Gemm or OpKind.BatchNormalization)
                foreach (var w in node.Inputs.Skip(1).Where(w => w.Length > 0))
                    if (!graph.IsInitializer(w))
                        throw new SecateurException(ErrorCode.UnsupportedOp,
                            $"node '{node.Name}' ({node.Op}): weight '{w}' is computed at run time; Secateur needs it as an initializer");
        }
        foreach (var o in graph.Outputs)
            if (!defined.Contains(o.Name)) throw Invalid($"graph output '{o.Name}' is never written");
        ShapeInference.Infer(graph);
    }

    private static SecateurException Invalid(string why) => new(ErrorCode.InvalidGraph, why);
}
