namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Softplus. Its shape is elementwise, but Softplus(0) = ln 2: a channel whose producer is removed would stop
/// feeding ln 2 (times its weights) to the next layer, so removing it is not the same as zeroing it — unless what it
/// feeds multiplies it by those channels again (Mish written out as x · tanh(softplus(x))). The dependency graph tells
/// the two apart (see <see cref="OpDefinition.MapsZeroTo"/>).
/// </summary>
internal sealed class SoftplusOp() : ElementwiseUnaryOp(OpKind.Softplus)
{
    public override string? MapsZeroTo(Node node, ModelGraph graph) => "ln 2";
}
