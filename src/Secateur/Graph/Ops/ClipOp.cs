namespace Secateur.Graph.Ops;

/// <summary>ONNX Clip: X[, min[, max]] (opset 11+ form; older attributes are read too). The bounds are constants.</summary>
internal sealed class ClipOp() : ElementwiseUnaryOp(OpKind.Clip, 3)
{
    public override bool IsConstantInput(int index) => index >= 1;

    /// <summary>Clip(0) is min when min &gt; 0, max when max &lt; 0.</summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph)
    {
        var (lo, hi) = (Bound(node, graph, 1, "min"), Bound(node, graph, 2, "max"));
        return lo > 0 ? $"{lo:G6} (its min)" : hi < 0 ? $"{hi:G6} (its max)" : null;
    }

    /// <summary>ReLU6 and its kin: min a constant exactly 0, max a positive constant or absent (+∞).</summary>
    public override float? ZeroClampBound(ModelGraph graph, Node node)
    {
        if (Bound(node, graph, 1, "min") is not 0f) return null;
        if (node.InputOrNull(2) is null && !node.Attributes.ContainsKey("max")) return float.PositiveInfinity;
        return Bound(node, graph, 2, "max") is { } max && max > 0 ? max : null;
    }

    /// <summary>A bound given as a one-element float constant input or (before opset 11) as an attribute; null when absent or not constant.</summary>
    private static float? Bound(Node node, ModelGraph graph, int input, string attribute) =>
        node.InputOrNull(input) is { } name ? graph.Initializers.GetValueOrDefault(name) is { Type: ElementType.Float, Count: 1 } t ? t.Floats[0] : null
        : node.Attributes.ContainsKey(attribute) ? node.Float(attribute, 0) : null;
}
