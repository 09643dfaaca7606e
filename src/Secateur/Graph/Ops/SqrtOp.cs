namespace Secateur.Graph.Ops;

/// <summary>ONNX Sqrt: elementwise and 0 at 0, so channels pass through.</summary>
internal sealed class SqrtOp() : ElementwiseUnaryOp(OpKind.Sqrt);
