namespace Secateur.Graph.Ops;

/// <summary>ONNX Add with broadcasting; a residual Add of two activations is quantized.</summary>
internal sealed class AddOp() : BinaryArithmeticOp(OpKind.Add)
{
    public override bool IsQuantizable(ModelGraph graph, Node node) =>
        node.Inputs.Count == 2 && !graph.IsInitializer(node.Inputs[0]) && !graph.IsInitializer(node.Inputs[1]);
}
