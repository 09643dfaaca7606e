namespace Secateur.Graph.Ops;

/// <summary>ONNX Gemm: alpha·op(A)·op(B) + beta·C. A Linear layer (transB = 1) produces features and consumes its input's, flattened or not.</summary>
internal sealed class GemmOp() : WeightedLayerOp(OpKind.Gemm)
{
    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant)
    {
        var a = First(node, inputs);
        var b = Required(node, inputs, 1);
        if (a.Length != 2 || b.Length != 2) throw Fail(node, $"expects 2-D inputs, got {TensorData.FormatShape(a)} and {TensorData.FormatShape(b)}");
        bool ta = node.Int("transA", 0) != 0, tb = node.Int("transB", 0) != 0;
        long m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
        long kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
        if (k != kb) throw Fail(node, $"inner dimensions differ: input has {k} features, weight expects {kb}");
        if (node.InputOrNull(2) is not null) ShapeInference.Broadcast(node, [m, n], inputs[2]);
        return [m, n];
    }

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        long outFeatures = shapes[node.Output][1];
        if (node.Int("transA", 0) != 0) return new ChannelRule.Block($"'{node.Name}' transposes its input");
        var w = node.Inputs[1];
        bool transB = node.Int("transB", 0) != 0;
        var producers = new List<ChannelTensor> { new(w, transB ? 0 : 1) };
        string? blocked = null;
        if (node.InputOrNull(2) is { } c)
        {
            var bias = graph.Initializers.GetValueOrDefault(c);
            if (bias is not null && bias.Count == outFeatures) producers.Add(new(c, bias.Shape.Length - 1));
            // A scalar bias is the same for every output; anything else cannot follow the output features.
            else if (bias is null || bias.Count != 1) blocked = $"'{node.Name}' has a bias that is not per output";
        }
        return new ChannelRule.Layer(new(w, transB ? 1 : 0), ReadsFlattened: true, outFeatures, producers, blocked);
    }

    public override long Macs(Node node, IReadOnlyDictionary<string, long[]> shapes)
    {
        var a = shapes[node.Inputs[0]];
        long k = node.Int("transA", 0) != 0 ? a[0] : a[1];
        return shapes[node.Output][1] * k; // per row of a batch of one
    }

    // As a linear layer: activation A (not transposed), constant 2-D B, optional constant 1-D C, alpha = beta = 1.
    public override bool IsQuantizable(ModelGraph graph, Node node) =>
        node.Inputs.Count >= 2 && graph.IsInitializer(node.Inputs[1]) && !graph.IsInitializer(node.Inputs[0])
        && node.Int("transA", 0) == 0 && node.Float("alpha", 1f) == 1f && node.Float("beta", 1f) == 1f
        && graph.Initializers[node.Inputs[1]].Shape.Length == 2
        && (node.InputOrNull(2) is null || (graph.IsInitializer(node.Inputs[2]) && graph.Initializers[node.Inputs[2]].Shape.Length == 1));
}
