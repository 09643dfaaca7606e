namespace Secateur.Graph.Ops;

/// <summary>ONNX Mul with broadcasting.</summary>
internal sealed class MulOp() : BinaryArithmeticOp(OpKind.Mul);
