namespace Secateur.Graph.Ops;

/// <summary>ONNX Relu.</summary>
internal sealed class ReluOp() : ElementwiseUnaryOp(OpKind.Relu)
{
    public override float? ZeroClampBound(ModelGraph graph, Node node) => float.PositiveInfinity;
}
