namespace Secateur.Graph.Ops;

/// <summary>ONNX Max: the elementwise maximum of its inputs; max(0, 0) = 0, so removed channels stay removed.</summary>
internal sealed class MaxOp() : VariadicElementwiseOp(OpKind.Max);
