namespace Secateur.Graph.Ops;

/// <summary>ONNX Clip: X[, min[, max]] (opset 11+ form; older attributes are read too). The bounds are constants.</summary>
internal sealed class ClipOp() : ElementwiseUnaryOp(OpKind.Clip, 3)
{
    public override bool IsConstantInput(int index) => index >= 1;

    /// <summary>Clip(0) is min when min &gt; 0, max when max &lt; 0.</summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph)
    {
        float? Bound(int input, string attribute) =>
            node.InputOrNull(input) is { } name ? graph.Initializers.GetValueOrDefault(name) is { Type: ElementType.Float, Count: 1 } t ? t.Floats[0] : null
            : node.Attributes.ContainsKey(attribute) ? node.Float(attribute, 0) : null;
        var (lo, hi) = (Bound(1, "min"), Bound(2, "max"));
        return lo > 0 ? $"{lo:G6} (its min)" : hi < 0 ? $"{hi:G6} (its max)" : null;
    }
}
