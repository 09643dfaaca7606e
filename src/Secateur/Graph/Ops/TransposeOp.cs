namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Transpose with attribute <c>perm</c> (reversed axes when absent). The channels move with their axis (ConvNeXt's
/// Permute to channels last and back): the dependency graph tracks which axis carries them.
/// </summary>
internal sealed class TransposeOp() : OpDefinition(OpKind.Transpose)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var x = First(node, inputs);
        return Permutation(node, x.Length).Select(p => x[p]).ToArray();
    }

    /// <summary>Transpose's permutation: the perm attribute, or the reversed axes when absent.</summary>
    internal static int[] Permutation(Node node, int rank)
    {
        var perm = node.Ints("perm")?.Select(p => (int)p).ToArray() ?? Enumerable.Range(0, rank).Reverse().ToArray();
        if (perm.Length != rank || perm.Order().Where((p, i) => p != i).Any())
            throw Fail(node, $"perm [{string.Join(",", perm)}] is not a permutation of {rank} axes");
        return perm;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        new ChannelRule.Permute(Permutation(node, shapes[node.Inputs[0]].Length));
}
