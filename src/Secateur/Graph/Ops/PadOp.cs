namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Pad (opset 11+ form): data, pads[, constant_value], both constant initializers; mode constant, reflect or
/// edge. Channels are followed while it pads only spatial axes.
/// </summary>
internal sealed class PadOp() : OpDefinition(OpKind.Pad, 2, 3)
{
    public override bool IsConstantInput(int index) => index >= 1;

    /// <summary>A constant pad with a nonzero value writes it around a removed channel's zeros.</summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph) =>
        node.String("mode", "constant") == "constant" && node.InputOrNull(2) is { } fill
        && graph.Initializers.GetValueOrDefault(fill) is { Type: ElementType.Float, Count: 1 } t && t.Floats[0] != 0 ? $"{t.Floats[0]:G6} on its border" : null;

    public override void Validate(Node node, ModelGraph graph)
    {
        if (node.String("mode", "constant") is not ("constant" or "reflect" or "edge"))
            throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Pad): mode '{node.String("mode", "")}' is not supported (constant, reflect, edge)");
        if (node.InputOrNull(2) is { } fill
            && (!graph.Initializers.TryGetValue(fill, out var f) || f.Type != ElementType.Float || f.Count != 1))
            throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Pad): constant_value '{fill}' must be a float scalar initializer");
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var pads = Amounts(node, x.Length, constant);
        var result = new long[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            result[i] = x[i] + pads[i] + pads[i + x.Length];
            if (result[i] < 0) throw Fail(node, $"pads remove more than dimension {i} holds ({x[i]})");
        }
        return result;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        int rank = shapes[node.Inputs[0]].Length;
        var pads = Amounts(node, rank, v => graph.Initializers.GetValueOrDefault(v));
        return new ChannelRule.SpatialOnly(rank < 2 || pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0
            ? $"'{node.Name}' (Pad) pads the batch or channel axis"
            : null);
    }

    /// <summary>Pad's pads (begin values for every axis, then end values) from its constant int64 input.</summary>
    internal static long[] Amounts(Node node, int rank, Func<string, TensorData?> constant)
    {
        var name = node.InputOrNull(1) ?? throw Fail(node, "missing pads input");
        if (constant(name) is not { Type: ElementType.Int64 } t) throw Fail(node, $"pads '{name}' must be a constant int64 initializer");
        if (t.Longs.Length != 2 * rank) throw Fail(node, $"pads has {t.Longs.Length} values, expected {2 * rank} for rank {rank}");
        return t.Longs;
    }
}
