namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX MatMul with numpy semantics (1-D operands promoted, batch dimensions broadcast). By a constant 2-D weight B
/// (K, N) it is a Linear layer on the last axis — how PyTorch exports <c>nn.Linear</c> on a 4-D input, as ConvNeXt
/// applies it channels last: it reads the K channels of that axis (rows of B) and writes N new ones (columns of B).
/// </summary>
internal sealed class MatMulOp() : OpDefinition(OpKind.MatMul, 2, 2)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var a = First(node, inputs);
        var b = Required(node, inputs, 1);
        if (a.Length < 1 || b.Length < 1) throw Fail(node, "scalar operand");
        var a2 = a.Length == 1 ? new[] { 1L, a[0] } : a;
        var b2 = b.Length == 1 ? new[] { b[0], 1L } : b;
        if (a2[^1] != b2[^2]) throw Fail(node, $"inner dimensions differ: {TensorData.FormatShape(a)} · {TensorData.FormatShape(b)}");
        var result = new List<long>(ShapeInference.Broadcast(node, a2[..^2], b2[..^2]));
        if (a.Length > 1) result.Add(a2[^2]);
        if (b.Length > 1) result.Add(b2[^1]);
        return [.. result];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var a = shapes[node.Inputs[0]];
        var b = node.Inputs[1];
        if (!graph.IsInitializer(b) || graph.IsInitializer(node.Inputs[0]) || graph.Initializers[b].Shape.Length != 2 || a.Length < 2)
            return Mixes(node);
        var w = graph.Initializers[b].Shape; // (K, N)
        // A 2-D input may be a flattened value (a Linear after Flatten), whose features are channels × H·W.
        return new ChannelRule.Layer(new(b, 0), ReadsFlattened: a.Length == 2, w[1], [new(b, 1)], Axis: a.Length - 1);
    }

    public override long Macs(Node node, IReadOnlyDictionary<string, long[]> shapes)
    {
        var output = shapes[node.Output];
        long k = shapes[node.Inputs[0]][^1];
        long perBatch = TensorData.ElementCount(output) / (output.Length > 1 ? Math.Max(1, output[0]) : 1);
        return perBatch * k;
    }
}
