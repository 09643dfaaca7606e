namespace Secateur.Graph.Ops;

/// <summary>ONNX Concat along <c>axis</c> (default 1): channels of all inputs, in order, along the channel axis.</summary>
internal sealed class ConcatOp() : OpDefinition(OpKind.Concat, 1, int.MaxValue)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var first = First(node, inputs);
        int axis = Axis(node, node.Int("axis", 1), first.Length);
        var outShape = (long[])first.Clone();
        outShape[axis] = 0;
        foreach (var s in inputs.Where(s => s.Length > 0))
        {
            if (s.Length != first.Length) throw Fail(node, "inputs have different ranks");
            for (int d = 0; d < s.Length; d++)
                if (d != axis && s[d] != first[d])
                    throw Fail(node, $"inputs differ in dimension {d} ({TensorData.FormatShape(first)} vs {TensorData.FormatShape(s)})");
            outShape[axis] += s[axis];
        }
        return outShape;
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        long axis = node.Int("axis", 1);
        return new ChannelRule.Concatenate(axis < 0 ? axis + shapes[node.Output].Length : axis);
    }
}
