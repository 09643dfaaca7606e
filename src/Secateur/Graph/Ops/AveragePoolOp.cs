namespace Secateur.Graph.Ops;

/// <summary>ONNX AveragePool (count_include_pad honoured).</summary>
internal sealed class AveragePoolOp() : PoolOp(OpKind.AveragePool);
