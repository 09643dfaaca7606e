namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Pow with a constant scalar exponent (input 1): x², x³ in written-out LayerNorm and tanh-GELU, x^1.5 in
/// hand-written nets. Elementwise; channels pass through when the exponent is positive, so that a zeroed channel
/// stays 0 (0^e is 1 or infinite otherwise, and removing the channel would then change the next layer).
/// </summary>
internal sealed class PowOp() : OpDefinition(OpKind.Pow, 2, 2)
{
    public override bool IsConstantInput(int index) => index == 1;

    public override void Validate(Node node, ModelGraph graph)
    {
        if (graph.Initializers.GetValueOrDefault(node.Inputs[1]) is not { Type: ElementType.Float, Count: 1 })
            throw new SecateurException(ErrorCode.UnsupportedOp,
                $"node '{node.Name}' (Pow): the exponent '{node.Inputs[1]}' must be a constant float scalar (computed or per-element exponents are not supported)");
    }

    /// <summary>The constant exponent of <paramref name="node"/>.</summary>
    internal static float Exponent(Node node, Func<string, TensorData?> constant) =>
        constant(node.Inputs[1]) is { Type: ElementType.Float, Count: 1 } e ? e.Floats[0]
            : throw Fail(node, $"exponent '{node.Inputs[1]}' is not a constant float scalar");

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        Required(node, inputs, 1);
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        float e = Exponent(node, graph.Initializers.GetValueOrDefault);
        // 0^e is infinite for e < 0: not even a gate (0 · ∞) would zero it again.
        return e >= 0 ? ChannelRule.PassThrough.Elementwise
            : new ChannelRule.Block($"'{node.Name}' (Pow) raises to {e}, which maps 0 to infinity");
    }

    /// <summary>0^0 = 1.</summary>
    public override string? MapsZeroTo(Node node, ModelGraph graph) => Exponent(node, graph.Initializers.GetValueOrDefault) == 0 ? "1" : null;
}
