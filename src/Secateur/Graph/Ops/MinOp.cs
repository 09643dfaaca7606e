namespace Secateur.Graph.Ops;

/// <summary>ONNX Min: the elementwise minimum of its inputs; min(0, 0) = 0, so removed channels stay removed.</summary>
internal sealed class MinOp() : VariadicElementwiseOp(OpKind.Min);
