namespace Secateur.Graph.Ops;

/// <summary>ONNX Softmax along <c>axis</c> (default -1), in its opset-13 meaning. It normalises across whatever axis it is given, so channels are not followed.</summary>
internal sealed class SoftmaxOp() : OpDefinition(OpKind.Softmax)
{
    public override int MinOpset => 13;

    // Before 13, Softmax flattened the input to 2-D at `axis`.
    protected override string MinOpsetReason => "Softmax before opset 13 normalises over all trailing axes";

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant) => First(node, inputs);

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) => Mixes(node);
}
