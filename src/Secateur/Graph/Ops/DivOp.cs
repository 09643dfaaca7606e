namespace Secateur.Graph.Ops;

/// <summary>ONNX Div with broadcasting.</summary>
internal sealed class DivOp() : BinaryArithmeticOp(OpKind.Div);
