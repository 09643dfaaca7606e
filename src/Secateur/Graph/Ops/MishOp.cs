namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Mish (opset 18): elementwise and 0 at 0, so channels pass through. Older exporters write it as
/// Softplus → Tanh → Mul, which imports as those ops.
/// </summary>
internal sealed class MishOp() : ElementwiseUnaryOp(OpKind.Mish)
{
    public override int MinOpset => 18;
}
