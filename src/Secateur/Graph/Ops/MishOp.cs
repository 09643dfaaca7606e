namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Mish (opset 18): elementwise and 0 at 0, so channels pass through. Older exporters write it as
/// Softplus → Tanh → Mul, which imports as those ops; a save at an opset below 18 writes that form (<see cref="Lower"/>).
/// </summary>
internal sealed class MishOp() : ElementwiseUnaryOp(OpKind.Mish)
{
    public override int MinOpset => 18;

    // x·tanh(softplus(x)), the ONNX definition.
    public override IReadOnlyList<Node>? Lower(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes, int opset)
    {
        var l = new Lowering(node, graph);
        var x = node.Inputs[0];
        l.Add(OpKind.Mul, [x, l.Add(OpKind.Tanh, [l.Add(OpKind.Softplus, [x])])], last: true);
        return l.Nodes;
    }
}
