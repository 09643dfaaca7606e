namespace Secateur.Graph.Ops;

/// <summary>
/// The shared shape of ops that map each element of input 0 to one output element (activations, dropout,
/// identity): same shape, channels pass through. Further inputs, when the op has any, are its operands' constants.
/// </summary>
internal abstract class ElementwiseUnaryOp(OpKind kind, int maxInputs = 1) : OpDefinition(kind, 1, maxInputs)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant) => First(node, inputs);

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        ChannelRule.PassThrough.Elementwise;
}
