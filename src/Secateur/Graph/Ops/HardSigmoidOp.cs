namespace Secateur.Graph.Ops;

/// <summary>ONNX HardSigmoid: max(0, min(1, alpha·x + beta)).</summary>
internal sealed class HardSigmoidOp() : ElementwiseUnaryOp(OpKind.HardSigmoid);
