namespace Secateur.Graph.Ops;

/// <summary>ONNX Identity.</summary>
internal sealed class IdentityOp() : ElementwiseUnaryOp(OpKind.Identity)
{
    public override bool IsQuantizationPassThrough => true;
}
