namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Gelu (opset 20), approximate "none" or "tanh": elementwise and 0 at 0, so channels pass through. Exporters
/// before opset 20 write the erf or tanh formula out instead, which imports as Erf or Tanh with arithmetic.
/// </summary>
internal sealed class GeluOp() : ElementwiseUnaryOp(OpKind.Gelu)
{
    public override int MinOpset => 20;

    public override void Validate(Node node, ModelGraph graph)
    {
        if (node.String("approximate", "none") is not ("none" or "tanh"))
            throw Fail(node, $"approximate '{node.String("approximate", "none")}' is neither 'none' nor 'tanh'");
    }
}
