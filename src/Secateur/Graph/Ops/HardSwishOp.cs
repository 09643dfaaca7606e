namespace Secateur.Graph.Ops;

/// <summary>ONNX HardSwish, which exists from opset 14.</summary>
internal sealed class HardSwishOp() : ElementwiseUnaryOp(OpKind.HardSwish)
{
    public override int MinOpset => 14;
}
