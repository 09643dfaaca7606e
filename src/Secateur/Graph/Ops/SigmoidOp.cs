namespace Secateur.Graph.Ops;

/// <summary>ONNX Sigmoid. σ(0) = 0.5: a removed channel is exact only where a gate multiplies it by a removed one again (see <see cref="OpDefinition.MapsZeroTo"/>).</summary>
internal sealed class SigmoidOp() : ElementwiseUnaryOp(OpKind.Sigmoid)
{
    public override string? MapsZeroTo(Node node, ModelGraph graph) => "0.5";
}
