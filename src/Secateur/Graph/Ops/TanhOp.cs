namespace Secateur.Graph.Ops;

/// <summary>ONNX Tanh: elementwise and 0 at 0, so channels pass through.</summary>
internal sealed class TanhOp() : ElementwiseUnaryOp(OpKind.Tanh);
