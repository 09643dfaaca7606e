using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Quantization;

/// <summary>
/// Rewrites a float graph into the form that is quantized: batch norms that follow a convolution are folded into its
/// weights and bias (ONNX Runtime cannot fold a batch norm into a convolution whose weight comes out of a
/// DequantizeLinear, so it must happen before quantization), and the ReLUs and ReLU6s (Clip to [0, 6]) that directly
/// follow a quantized node are found, so that the writer can drop them: a uint8 QuantizeLinear with zero point 0 clips
/// at 0 exactly, and one whose range ends at or below the Clip's max saturates there.
/// </summary>
internal static class GraphPreparation
{
    /// <summary>Ops whose integer form ONNX Runtime fuses from DequantizeLinear → op → QuantizeLinear.</summary>
    public static bool IsQuantizable(ModelGraph graph, Node n) => OpRegistry.For(n).IsQuantizable(graph, n);

    /// <summary>Ops whose output range is a subset of their input's, so the output reuses the input's quantization and
    /// ONNX Runtime drops the DequantizeLinear/QuantizeLinear pair around them.</summary>
    public static bool IsPassThrough(Node n) => OpRegistry.For(n).IsQuantizationPassThrough;

    /// <summary>A copy of <paramref name="graph"/> with every Conv → BatchNormalization pair folded into one Conv (only the batch norms <paramref name="which"/> accepts, when given).</summary>
    public static ModelGraph FoldBatchNorms(ModelGraph graph, Func<Node, bool>? which = null)
    {
        var g = graph.Clone();
        var outputs = g.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            var bn = g.Nodes[i];
            if (bn.Op != OpKind.BatchNormalization || (which is not null && !which(bn))) continue;
            var conv = g.Producer(bn.Inputs[0]);
            if (conv is null || conv.Op != OpKind.Conv || outputs.Contains(conv.Output) || g.Consumers(conv.Output).Count() != 1) continue;
            if (!g.IsInitializer(conv.Inputs[1]) || bn.Inputs.Skip(1).Any(v => !g.IsInitializer(v))) continue;
            string wName = conv.Inputs[1];
            if (g.Nodes.Count(n => n.Inputs.Contains(wName)) != 1) continue;
            string? bName = conv.InputOrNull(2);
            if (bName is not null && (!g.IsInitializer(bName) || g.Nodes.Count(n => n.Inputs.Contains(bName)) != 1)) continue;

            var w = g.Initializers[wName];
            long cout = w.Shape[0];
            float[] gamma = g.Initializers[bn.Inputs[1]].Floats, beta = g.Initializers[bn.Inputs[2]].Floats;
            float[] mean = g.Initializers[bn.Inputs[3]].Floats, variance = g.Initializers[bn.Inputs[4]].Floats;
            if (gamma.Length != cout) continue;
            float eps = bn.Float("epsilon", 1e-5f);
            var wf = (float[])w.Floats.Clone();
            long per = wf.Length / cout;
            var bias = bName is null ? new float[cout] : (float[])g.Initializers[bName].Floats.Clone();
            for (long c = 0; c < cout; c++)
            {
                // y = γ (conv(x) + b − μ) / √(σ² + ε) + β
                double k = gamma[c] / Math.Sqrt(variance[c] + (double)eps);
                for (long j = 0; j < per; j++) wf[c * per + j] = (float)(wf[c * per + j] * k);
                bias[c] = (float)((bias[c] - mean[c]) * k + beta[c]);
            }
            g.Initializers[wName] = TensorData.FromFloats(wf, w.Shape);
            if (bName is null)
            {
                bName = $"{conv.Name}.folded_bias";
                for (int k = 1; g.Initializers.ContainsKey(bName) || g.Nodes.Any(n => n.Outputs.Contains(bName)); k++) bName = $"{conv.Name}.folded_bias_{k}";
            }
            g.Initializers[bName] = TensorData.FromFloats(bias, cout);
            int ci = g.Nodes.IndexOf(conv);
            g.Nodes[ci] = conv.With(inputs: [conv.Inputs[0], wName, bName], outputs: [bn.Output]);
            foreach (var name in bn.Inputs.Skip(1).Where(v => g.Nodes.Count(n => n.Inputs.Contains(v)) == 1)) g.Initializers.Remove(name);
            g.Nodes.RemoveAt(i);
            i--;
        }
        return g;
    }

    /// <summary>
    /// The clamps at zero that may be dropped — ReLU, and Clip with min 0 (ReLU6) — that are the only consumer of a
    /// quantizable node's output, neither of them a graph output. Keyed by the producer's output; the value is the
    /// clamp node and its upper bound (+∞ for ReLU).
    /// </summary>
    public static Dictionary<string, (Node Node, float Bound)> FusibleActivations(ModelGraph graph)
    {
        var outputs = graph.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var result = new Dictionary<string, (Node, float)>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes.Where(n => IsQuantizable(graph, n)))
        {
            if (outputs.Contains(n.Output)) continue;
            var consumers = graph.Consumers(n.Output).ToList();
            // A clamp whose output leaves the graph stays: that output is not quantized, so nothing would clip it.
            if (consumers is [var clamp] && !outputs.Contains(clamp.Output) && OpRegistry.For(clamp).ZeroClampBound(graph, clamp) is { } bound)
                result[n.Output] = (clamp, bound);
        }
        return result;
    }
}
