namespace Secateur.Graph.Ops;

/// <summary>ONNX GlobalMaxPool: every spatial axis reduced to 1 by its maximum; channels pass through.</summary>
internal sealed class GlobalMaxPoolOp() : GlobalPoolOp(OpKind.GlobalMaxPool);
