namespace Secateur.Graph.Ops;

/// <summary>ONNX HardSigmoid: max(0, min(1, alpha·x + beta)).</summary>
/// <remarks>HardSigmoid(0) = clamp(beta, 0, 1), 0.5 by default (see <see cref="OpDefinition.MapsZeroTo"/>).</remarks>
internal sealed class HardSigmoidOp() : ElementwiseUnaryOp(OpKind.HardSigmoid)
{
    public override string? MapsZeroTo(Node node, ModelGraph graph) =>
        Math.Clamp(node.Float("beta", 0.5f), 0f, 1f) is var b && b != 0 ? $"{b:G6}" : null;
}
