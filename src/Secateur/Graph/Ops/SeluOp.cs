namespace Secateur.Graph.Ops;

/// <summary>ONNX Selu: elementwise and 0 at 0, so channels pass through; alpha and gamma are attributes.</summary>
internal sealed class SeluOp() : ElementwiseUnaryOp(OpKind.Selu);
