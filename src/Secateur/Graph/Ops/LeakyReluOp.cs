namespace Secateur.Graph.Ops;

/// <summary>ONNX LeakyRelu: elementwise, so channels pass through; alpha is an attribute, so there is no constant input.</summary>
internal sealed class LeakyReluOp() : ElementwiseUnaryOp(OpKind.LeakyRelu);
