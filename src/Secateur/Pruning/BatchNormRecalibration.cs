using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Re-estimates batch-norm running statistics of a (pruned) model from training images: removing channels
/// shifts the distributions every later layer sees, and stale statistics are what makes accuracy right after
/// pruning collapse. Only the statistics change; no weight is trained.
/// </summary>
public static class BatchNormRecalibration
{
    /// <summary>Returns a copy of <paramref name="graph"/> whose BN statistics are the exact averages over up to <paramref name="images"/> images.</summary>
    public static ModelGraph Recalibrate(ModelGraph graph, IBatchSource data, int images, string device = "cpu")
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(data);
        if (!graph.Nodes.Any(n => n.Op == OpKind.BatchNormalization) || images <= 0) return graph;
        using var module = new GraphModule(graph, Devices.Parse(device));
        using (no_grad())
        {
            // The in-place calls return a fresh Tensor handle each; without a scope that is one leaked native
            // handle per batch-norm layer and call (found by LiveTensorTests). The buffers themselves live in the module.
            using (NewDisposeScope())
                foreach (var n in graph.Nodes.Where(n => n.Op == OpKind.BatchNormalization))
                {
                    module.Tensor(n.Inputs[3]).zero_();
                    module.Tensor(n.Inputs[4]).fill_(1);
                }
            module.train();
            int seen = 0, k = 0;
            foreach (var batch in data.Epoch(0))
            {
                using var scope = NewDisposeScope();
                // Cumulative average: the k-th batch weighs 1/k.
                module.BatchNormMomentum = 1.0 / ++k;
                var (x, _) = Trainer.ToTensors(batch, module.Device);
                module.forward(x);
                seen += batch.Count;
                if (seen >= images) break;
            }
            module.BatchNormMomentum = null;
            module.eval();
        }
        return module.ToGraph();
    }
}
