namespace Secateur.Graph.Ops;

/// <summary>ONNX Clip: X[, min[, max]] (opset 11+ form; older attributes are read too). The bounds are constants.</summary>
internal sealed class ClipOp() : ElementwiseUnaryOp(OpKind.Clip, 3)
{
    public override bool IsConstantInput(int index) => index >= 1;
}
