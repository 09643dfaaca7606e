namespace Secateur.Graph.Ops;

/// <summary>ONNX GlobalAveragePool: every spatial axis averaged to 1; channels pass through.</summary>
internal sealed class GlobalAveragePoolOp() : GlobalPoolOp(OpKind.GlobalAveragePool);
