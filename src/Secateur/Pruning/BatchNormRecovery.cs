using System.Diagnostics;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Quantization;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>When a pruning run recovers the batch norms that an exported model had folded into its convolutions.</summary>
public enum BatchNormRecoveryMode
{
    /// <summary>On when the unpruned model has no batch norm at all (its convolutions carry them folded), else off.</summary>
    Auto,
    /// <summary>Always (needs data and recalibration images).</summary>
    On,
    /// <summary>Never: the result is what it was before recovery existed.</summary>
    Off,
}

/// <summary>What <see cref="BatchNormRecovery.Run"/> did.</summary>
/// <param name="Graph">The pruned graph with the corrections folded into its convolutions (no node added).</param>
/// <param name="Layers">The convolutions corrected, in graph order.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record BatchNormRecoveryResult(ModelGraph Graph, IReadOnlyList<string> Layers, double Seconds);

/// <summary>
/// Batch-norm recovery for models whose batch norms were folded into the convolutions on export: after pruning,
/// batch-norm recalibration has nothing to recalibrate in such a model, although the channels that remain see shifted
/// inputs. Recovery inserts a batch norm after every convolution that pruning touched (its input or output channels
/// changed) and that has none of its own, with scale √(σ²_dense + ε) and shift μ_dense — the per-channel mean and
/// variance of the unpruned model's output of that convolution on the calibration images, for the kept channels —
/// re-estimates its running statistics on the pruned model exactly as <see cref="BatchNormRecalibration"/> does (one
/// pass, every inserted norm at once, later ones seeing the earlier ones' corrections), so that each corrected
/// output has the dense model's per-channel mean and variance, and folds it back into the convolution's weights and
/// bias. The saved model has exactly the nodes it had after pruning. What onnxsim's BN recovery does for its pruner.
/// </summary>
public static class BatchNormRecovery
{
    /// <summary>Whether <paramref name="mode"/> turns recovery on for the unpruned <paramref name="dense"/> graph.</summary>
    public static bool Applies(BatchNormRecoveryMode mode, ModelGraph dense)
    {
        ArgumentNullException.ThrowIfNull(dense);
        return mode switch
        {
            BatchNormRecoveryMode.On => true,
            BatchNormRecoveryMode.Off => false,
            _ => dense.Nodes.Any(n => n.Op == OpKind.Conv) && !dense.Nodes.Any(n => n.Op == OpKind.BatchNormalization),
        };
    }

    /// <summary>The convolutions of <paramref name="pruned"/> (the result of <paramref name="plan"/>) that recovery corrects, in graph order.</summary>
    public static IReadOnlyList<string> Layers(PruningPlan plan, ModelGraph pruned)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(pruned);
        var dense = plan.Dependencies.Graph;
        var result = new List<string>();
        foreach (var node in pruned.Nodes.Where(n => n.Op == OpKind.Conv))
        {
            if (node.Inputs.Count < 2 || !pruned.IsInitializer(node.Inputs[1]) || pruned.IsInitializer(node.Inputs[0])) continue;
            if (dense.FindNode(node.Name) is not { Op: OpKind.Conv } d || !dense.IsInitializer(d.Inputs[1])) continue;
            // Touched by pruning: the weight lost input or output channels.
            if (dense.Initializers[d.Inputs[1]].Shape.SequenceEqual(pruned.Initializers[node.Inputs[1]].Shape)) continue;
            var readers = pruned.Consumers(node.Output).ToList();
            if (readers.Any(r => r.Op == OpKind.BatchNormalization)) continue; // has a batch norm of its own: recalibration's job
            // Folding back rewrites the weight and bias in place: they must belong to this convolution alone.
            if (pruned.Consumers(node.Inputs[1]).Count() != 1) continue;
            if (node.InputOrNull(2) is { } b && (!pruned.IsInitializer(b) || pruned.Consumers(b).Count() != 1)) continue;
            result.Add(node.Name);
        }
        return result;
    }

    /// <summary>Recovers the folded batch norms of <paramref name="pruned"/>, the result of applying <paramref name="plan"/>.</summary>
    /// <param name="plan">The removal; its <see cref="PruningPlan.Dependencies"/> graph is the dense model the statistics come from.</param>
    /// <param name="pruned">The pruned (maybe refit) graph, not modified.</param>
    /// <param name="data">Calibration images (labels unused).</param>
    /// <param name="images">Images both models' statistics are averaged over.</param>
    /// <param name="device">Device name (cpu, cuda, cuda:N).</param>
    /// <param name="progress">Receives one line (null: silent).</param>
    public static BatchNormRecoveryResult Run(PruningPlan plan, ModelGraph pruned, IBatchSource data, int images, string device = "cpu", IWorkflowProgress? progress = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(pruned);
        ArgumentNullException.ThrowIfNull(data);
        if (images < 1) throw new SecateurException(ErrorCode.BadArgument, $"batch-norm recovery needs at least 1 image (got {images})", nameof(PruneRequest.RecalibrationImages));
        var clock = Stopwatch.StartNew();
        var dense = plan.Dependencies.Graph;
        var layers = Layers(plan, pruned);
        if (layers.Count == 0) return new BatchNormRecoveryResult(pruned, [], clock.Elapsed.TotalSeconds);
        progress?.Log($"batch-norm recovery of {layers.Count} folded convolution{(layers.Count == 1 ? "" : "s")} on {images} images ...");

        var cuts = StructuredPruner.Cuts(plan.Remove);
        var kept = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var name in layers)
        {
            var w = dense.FindNode(name)!.Inputs[1];
            long outputs = dense.Initializers[w].Shape[0];
            var removed = cuts.GetValueOrDefault((w, 0)) ?? [];
            kept[name] = Enumerable.Range(0, (int)outputs).Select(j => (long)j).Where(j => !removed.Contains(j)).ToArray();
        }
        var stats = DenseStatistics(dense, layers, kept, data, images, Devices.Parse(device));

        // Insert the norms: conv → value.bn_recovery → BatchNormalization → the conv's old output.
        var g = pruned.Clone();
        var inserted = new HashSet<string>(StringComparer.Ordinal);
        const float epsilon = 1e-5f;
        foreach (var name in layers)
        {
            int i = g.Nodes.FindIndex(n => n.Name == name);
            var conv = g.Nodes[i];
            var (mean, variance) = stats[name];
            string Unique(string s)
            {
                var c = s;
                for (int k = 1; g.Initializers.ContainsKey(c) || g.Nodes.Any(n => n.Name == c || n.Outputs.Contains(c)); k++) c = $"{s}_{k}";
                return c;
            }
            string raw = Unique($"{conv.Output}.bn_recovery"), bn = Unique($"{name}.bn_recovery");
            string scale = Unique($"{bn}.scale"), shift = Unique($"{bn}.bias"), mu = Unique($"{bn}.mean"), var = Unique($"{bn}.var");
            long c = mean.Length;
            g.Initializers[scale] = TensorData.FromFloats(variance.Select(v => (float)Math.Sqrt(v + epsilon)).ToArray(), c);
            g.Initializers[shift] = TensorData.FromFloats(mean.Select(m => (float)m).ToArray(), c);
            // Recalibration below replaces these with the pruned convolution's own statistics.
            g.Initializers[mu] = TensorData.FromFloats(new float[c], c);
            g.Initializers[var] = TensorData.FromFloats(Enumerable.Repeat(1f, (int)c).ToArray(), c);
            g.Nodes[i] = conv.With(outputs: [raw, .. conv.Outputs.Skip(1)]);
            g.Nodes.Insert(i + 1, new Node(bn, OpKind.BatchNormalization, [raw, scale, shift, mu, var], [conv.Output],
                [new("epsilon", AttributeValue.Of(epsilon))]));
            inserted.Add(bn);
        }
        var calibrated = BatchNormRecalibration.Recalibrate(g, data, images, device);
        var folded = GraphPreparation.FoldBatchNorms(calibrated, bn => inserted.Contains(bn.Name));
        if (folded.Nodes.Any(n => inserted.Contains(n.Name)))
            throw new SecateurException(ErrorCode.InvalidGraph, "batch-norm recovery could not fold an inserted batch norm back into its convolution");
        return new BatchNormRecoveryResult(folded, layers, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Per-channel mean and (biased) variance of each layer's output in the dense model, for its kept channels, accumulated in float64.</summary>
    private static Dictionary<string, (double[] Mean, double[] Variance)> DenseStatistics(ModelGraph dense, IReadOnlyList<string> layers,
        Dictionary<string, long[]> kept, IBatchSource data, int images, Device device)
    {
        var byOutput = layers.ToDictionary(n => dense.FindNode(n)!.Output, n => n, StringComparer.Ordinal);
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < dense.Nodes.Count; i++)
            foreach (var v in dense.Nodes[i].Inputs.Where(v => v.Length > 0)) lastUse[v] = i;
        var sums = layers.ToDictionary(n => n, _ => (Sum: (Tensor?)null, Squares: (Tensor?)null), StringComparer.Ordinal);
        long count = 0;
        var counts = layers.ToDictionary(n => n, _ => 0L, StringComparer.Ordinal);
        using var module = new GraphModule(dense, device);
        module.eval();
        try
        {
            using (no_grad())
            {
                foreach (var batch in data.Epoch(0))
                {
                    using var scope = NewDisposeScope();
                    var (x, _) = Trainer.ToTensors(batch, device);
                    if (count + batch.Count > images) x = x.narrow(0, 0, images - count);
                    var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [dense.Inputs[0].Name] = x };
                    for (int i = 0; i < dense.Nodes.Count; i++)
                    {
                        var node = dense.Nodes[i];
                        var y = Kernels.For(node)(new KernelCall(module, node, values));
                        values[node.Output] = y;
                        if (byOutput.TryGetValue(node.Output, out var layer))
                        {
                            using var index = tensor(kept[layer], device: device);
                            var v = y.index_select(1, index).transpose(0, 1).reshape(index.shape[0], -1).to_type(ScalarType.Float64);
                            var (s, q) = sums[layer];
                            var add = v.sum(1);
                            var addSq = v.square().sum(1);
                            add.DetachFromDisposeScope();
                            addSq.DetachFromDisposeScope();
                            if (s is null) sums[layer] = (add, addSq);
                            else
                            {
                                s.add_(add);
                                q!.add_(addSq);
                                add.Dispose();
                                addSq.Dispose();
                            }
                            counts[layer] += v.shape[1];
                        }
                        foreach (var input in node.Inputs.Where(v => v.Length > 0).Distinct())
                            if (lastUse[input] == i && values.Remove(input, out var dead) && input != dense.Inputs[0].Name) dead.Dispose();
                    }
                    count += x.shape[0];
                    if (count >= images) break;
                }
            }
            if (count == 0) throw new SecateurException(ErrorCode.BadArgument, "batch-norm recovery needs calibration images and the data has none", ParameterNames.Data);
            var result = new Dictionary<string, (double[], double[])>(StringComparer.Ordinal);
            foreach (var layer in layers)
            {
                var (s, q) = sums[layer];
                double n = counts[layer]; // elements per channel
                var mean = s!.data<double>().Select(v => v / n).ToArray();
                var squares = q!.data<double>().ToArray();
                result[layer] = (mean, mean.Select((m, c) => Math.Max(0, squares[c] / n - m * m)).ToArray());
            }
            return result;
        }
        finally
        {
            foreach (var (s, q) in sums.Values)
            {
                s?.Dispose();
                q?.Dispose();
            }
        }
    }
}
