namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX LayerNormalization (opset 17): X, Scale[, B], normalised over axes <c>axis</c> (default −1) to the last;
/// Scale and B broadcast to those axes. Only output Y is supported (the Mean and InvStdDev outputs are training aids).
/// </summary>
/// <remarks>
/// Channel rule: when the normalised axes include the axis that carries the channels — axis ≤ 1 channels first, or
/// ConvNeXt's Permute → LayerNorm(axis −1) → Permute, where a Transpose moved the channels last — every channel is
/// divided by a mean and variance taken over all channels, so removing one changes all the others: the pruned model
/// would not equal the zeroed one (zeros still count in the statistics), whichever channels go. There is no exact
/// rule, so Secateur refuses to prune through it rather than change the model silently; the groups it reads (a
/// ConvNeXt's whole residual stream) are blocked, with that reason. Layers between two normalisations that do not
/// pass through one (ConvNeXt's MLP hidden width) stay prunable. Normalising only axes that do not carry channels
/// keeps each channel's statistics its own, and channels pass through when there is no bias (a bias would turn a
/// zeroed channel into B, not 0).
/// </remarks>
internal sealed class LayerNormalizationOp() : OpDefinition(OpKind.LayerNormalization, 2, 3)
{
    public override int MinOpset => 17;

    public override void Validate(Node node, ModelGraph graph)
    {
        RequireInitializerWeights(node, graph);
        if (node.Outputs.Skip(1).Any(o => o.Length > 0))
            throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (LayerNormalization): only output Y is supported, not Mean or InvStdDev");
    }

    /// <summary>The first normalised axis of <paramref name="node"/> for an input of <paramref name="rank"/>.</summary>
    internal static int FirstAxis(Node node, int rank) => Axis(node, node.Int("axis", -1), rank);

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        var normalised = x[FirstAxis(node, x.Length)..];
        for (int i = 1; i < inputs.Length; i++)
        {
            if (inputs[i].Length == 0 && (i >= node.Inputs.Count || node.Inputs[i].Length == 0)) continue;
            var p = inputs[i];
            // Scale and B broadcast to the normalised axes, never beyond them.
            if (p.Length > normalised.Length || !ShapeInference.Broadcast(node, normalised, p).SequenceEqual(normalised))
                throw Fail(node, $"parameter '{node.Inputs[i]}' of shape {TensorData.FormatShape(p)} does not broadcast to the normalised axes {TensorData.FormatShape(normalised)}");
        }
        return x;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        int rank = shapes[node.Inputs[0]].Length;
        return new ChannelRule.Normalise(FirstAxis(node, rank),
            $"'{node.Name}' (LayerNormalization) normalises across channels: removing one changes the mean and variance of the others",
            node.InputOrNull(2) is null ? null
                : $"'{node.Name}' (LayerNormalization) adds a bias over spatial axes, so a removed channel would not be 0");
    }
}
