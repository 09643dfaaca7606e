namespace Secateur.Graph.Ops;

/// <summary>ONNX Elu: elementwise and 0 at 0, so channels pass through and a zeroed channel stays zero.</summary>
internal sealed class EluOp() : ElementwiseUnaryOp(OpKind.Elu);
