namespace Secateur.Graph.Ops;

/// <summary>ONNX Sub with broadcasting.</summary>
internal sealed class SubOp() : BinaryArithmeticOp(OpKind.Sub);
