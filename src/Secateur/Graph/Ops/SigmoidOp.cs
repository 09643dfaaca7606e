namespace Secateur.Graph.Ops;

/// <summary>ONNX Sigmoid.</summary>
internal sealed class SigmoidOp() : ElementwiseUnaryOp(OpKind.Sigmoid);
