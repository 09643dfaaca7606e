namespace Secateur.Graph.Ops;

/// <summary>ONNX GlobalAveragePool: every spatial axis averaged to 1; channels pass through. Quantized (ONNX Runtime's
/// QLinearGlobalAveragePool), so the classifier's input stays uint8 from the last convolution on.</summary>
internal sealed class GlobalAveragePoolOp() : GlobalPoolOp(OpKind.GlobalAveragePool)
{
    public override bool IsQuantizable(ModelGraph graph, Node node) => !graph.IsInitializer(node.Inputs[0]);
}
