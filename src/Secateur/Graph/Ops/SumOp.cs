namespace Secateur.Graph.Ops;

/// <summary>ONNX Sum: the elementwise sum of its inputs; 0 + 0 = 0, so removed channels stay removed.</summary>
internal sealed class SumOp() : VariadicElementwiseOp(OpKind.Sum);
