using Secateur.Graph;

namespace Secateur.Interop;

/// <summary>
/// Brings weights trained elsewhere (a PyTorch package's fine-tuned <c>weights.safetensors</c>) back into the graph
/// they were exported from: every trainable parameter and every batch-norm running statistic, each checked by name,
/// shape and element type, so that a file from another model, another pruning or a half-written file is one clear
/// error naming the tensor instead of a model that silently computes something else.
/// </summary>
public static class WeightImport
{
    /// <summary>The tensors a package carries and an import replaces: the parameters, then the batch-norm statistics.</summary>
    public static IReadOnlyList<string> TensorNames(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return [.. graph.ParameterNames(), .. graph.BufferNames()];
    }

    /// <summary>A copy of <paramref name="graph"/> with the tensors of the safetensors file at <paramref name="path"/>.</summary>
    /// <exception cref="SecateurException">BadFile naming the file and the tensor on any missing, unexpected, misshapen, mistyped or non-finite tensor.</exception>
    public static ModelGraph Load(ModelGraph graph, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Apply(graph, Safetensors.Load(path), path);
    }

    /// <summary>A copy of <paramref name="graph"/> with <paramref name="weights"/> in place of its parameters and statistics.</summary>
    /// <param name="graph">The graph the weights were exported from (same architecture, same pruning).</param>
    /// <param name="weights">Tensors by Secateur name.</param>
    /// <param name="source">Where the weights came from, for messages.</param>
    /// <exception cref="SecateurException">BadFile naming <paramref name="source"/> and the tensor on the first mismatch.</exception>
    public static ModelGraph Apply(ModelGraph graph, IReadOnlyDictionary<string, TensorData> weights, string source)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(weights);
        var names = TensorNames(graph);
        var expected = names.ToHashSet(StringComparer.Ordinal);
        SecateurException Bad(string what) => new(ErrorCode.BadFile, $"'{source}' does not fit model '{graph.Name}': {what}");
        if (weights.Keys.FirstOrDefault(k => !expected.Contains(k)) is { } extra)
            throw Bad($"tensor '{extra}' is not a parameter or batch-norm statistic of the model ({weights.Count(kv => !expected.Contains(kv.Key))} such; was it exported from another model?)");
        var result = graph.Clone();
        foreach (var name in names)
        {
            if (!weights.TryGetValue(name, out var t)) throw Bad($"tensor '{name}' is missing ({names.Count(n => !weights.ContainsKey(n))} of {names.Count} missing)");
            var want = graph.Initializers[name];
            if (t.Type != want.Type) throw Bad($"tensor '{name}' is {t.Type}, the model needs {want.Type}");
            if (!t.Shape.SequenceEqual(want.Shape))
                throw Bad($"tensor '{name}' has shape {TensorData.FormatShape(t.Shape)}, the model needs {TensorData.FormatShape(want.Shape)} (exported from a differently pruned model?)");
            if (t.Type == ElementType.Float && Array.FindIndex(t.Floats, v => !float.IsFinite(v)) is var bad and >= 0)
                throw Bad($"tensor '{name}' has a non-finite value ({t.Floats[bad]}) at element {bad} (did the training diverge?)");
            result.Initializers[name] = t.Clone();
        }
        return result;
    }
}
