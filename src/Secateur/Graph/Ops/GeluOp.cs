namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Gelu (opset 20), approximate "none" or "tanh": elementwise and 0 at 0, so channels pass through. Exporters
/// before opset 20 write the erf or tanh formula out instead, which imports as Erf or Tanh with arithmetic; a save
/// at an opset below 20 writes the same formula (<see cref="Lower"/>).
/// </summary>
internal sealed class GeluOp() : ElementwiseUnaryOp(OpKind.Gelu)
{
    public override int MinOpset => 20;

    public override void Validate(Node node, ModelGraph graph)
    {
        if (node.String("approximate", "none") is not ("none" or "tanh"))
            throw Fail(node, $"approximate '{node.String("approximate", "none")}' is neither 'none' nor 'tanh'");
    }

    // none: x·½(1 + erf(x/√2)); tanh: x·½(1 + tanh(√(2/π)·(x + 0.044715·x³))), the formulas of the ONNX definition.
    public override IReadOnlyList<Node>? Lower(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes, int opset)
    {
        var l = new Lowering(node, graph);
        var x = node.Inputs[0];
        string inner;
        if (node.String("approximate", "none") == "tanh")
        {
            var cube = l.Add(OpKind.Mul, [l.Add(OpKind.Mul, [x, x]), x]);
            var sum = l.Add(OpKind.Add, [x, l.Add(OpKind.Mul, [cube, l.Scalar(0.044715f)])]);
            inner = l.Add(OpKind.Tanh, [l.Add(OpKind.Mul, [sum, l.Scalar(MathF.Sqrt(2f / MathF.PI))])]);
        }
        else inner = l.Add(OpKind.Erf, [l.Add(OpKind.Mul, [x, l.Scalar(1f / MathF.Sqrt(2f))])]);
        var half = l.Add(OpKind.Mul, [l.Add(OpKind.Add, [inner, l.Scalar(1f)]), l.Scalar(0.5f)]);
        l.Add(OpKind.Mul, [x, half], last: true);
        return l.Nodes;
    }
}
