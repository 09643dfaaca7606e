namespace Secateur.Graph.Ops;

/// <summary>ONNX Relu.</summary>
internal sealed class ReluOp() : ElementwiseUnaryOp(OpKind.Relu);
