namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Softplus. Its shape is elementwise, but Softplus(0) = ln 2: a channel whose producer is removed would stop
/// feeding ln 2 (times its weights) to the next layer, so removing it is not the same as zeroing it. Pruning across it
/// would silently change the model, so it blocks the groups it reads, unless what it feeds multiplies it by those
/// channels again (Mish written out as x · tanh(softplus(x))): then a removed channel is 0 either way.
/// </summary>
internal sealed class SoftplusOp() : ElementwiseUnaryOp(OpKind.Softplus)
{
    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes) =>
        IsMishGate(node, graph)
            ? ChannelRule.PassThrough.Elementwise
            : new ChannelRule.Block($"'{node.Name}' (Softplus) maps 0 to ln 2, so a removed channel would change what the next layer reads");

    /// <summary>
    /// True when the only reader chain is Softplus → Tanh → Mul by Softplus's own input: a zeroed channel gives
    /// 0 · tanh(ln 2) = 0, the same as removing it.
    /// </summary>
    private static bool IsMishGate(Node node, ModelGraph graph)
    {
        var readers = graph.Nodes.Where(n => n.Inputs.Contains(node.Output)).ToList();
        if (readers is not [{ Op: OpKind.Tanh } tanh] || graph.Outputs.Any(o => o.Name == node.Output)) return false;
        var mul = graph.Nodes.Where(n => n.Inputs.Contains(tanh.Output)).ToList();
        return mul is [{ Op: OpKind.Mul } m] && m.Inputs.Contains(node.Inputs[0]) && !graph.Outputs.Any(o => o.Name == tanh.Output);
    }
}
