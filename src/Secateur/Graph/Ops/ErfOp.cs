namespace Secateur.Graph.Ops;

/// <summary>ONNX Erf: elementwise and 0 at 0, so channels pass through (the erf form of GELU prunes across it).</summary>
internal sealed class ErfOp() : ElementwiseUnaryOp(OpKind.Erf);
