namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Dropout: X[, ratio[, training_mode]]. Secateur's graphs keep the ratio as an attribute, which the exporter
/// turns into an input from opset 12 on.
/// </summary>
internal sealed class DropoutOp() : ElementwiseUnaryOp(OpKind.Dropout, 3)
{
    /// <summary>The first opset in which Dropout's ratio is an input rather than an attribute.</summary>
    internal const int RatioInputOpset = 12;

    public override IEnumerable<string> OpsetProblems(Node node, int opset)
    {
        if (opset < RatioInputOpset && node.Inputs.Count > 1)
            yield return $"node '{node.Name}' (Dropout) has ratio/training_mode inputs, which need opset {RatioInputOpset}";
        if (opset >= RatioInputOpset && node.Attributes.ContainsKey("ratio") && node.InputOrNull(1) is not null)
            yield return $"node '{node.Name}' (Dropout) has both a ratio attribute and a ratio input";
        if (node.Attributes.TryGetValue("ratio", out var r) && r.Kind != AttributeKind.Float)
            yield return $"node '{node.Name}' (Dropout) has a ratio attribute of kind {r.Kind}, expected Float";
    }
}
