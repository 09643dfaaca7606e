namespace Secateur.Graph.Ops;

/// <summary>ONNX Neg of an activation (Neg of constants folds at import): elementwise, channels pass through.</summary>
internal sealed class NegOp() : ElementwiseUnaryOp(OpKind.Neg);
