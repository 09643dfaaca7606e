using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

public sealed class BatchNormRecoveryTests
{
    private static readonly long[] Image = [3, 10, 10];

    /// <summary>A "folded" model: convolutions with biases and no batch norm, as an eval-mode export leaves them.</summary>
    private static ModelGraph Folded()
    {
        var b = new GraphBuilder("folded", 3, 10, 10, seed: 4);
        var a = b.Relu(b.Conv(b.Input, "a", 8, 3, pad: 1, bias: true));
        var c = b.Relu(b.Conv(a, "b", 6, 3, pad: 1, bias: true));
        return b.Build(b.Conv(c, "c", 4, 1, bias: true), "y");
    }

    private static (PruningPlan Plan, ModelGraph Pruned) Plan(ModelGraph g, string producer, long[] remove)
    {
        var deps = DependencyGraph.Build(g);
        var group = deps.Prunable.Single(x => x.Producers.Contains(producer));
        var plan = new PruningPlan(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = remove });
        return (plan, plan.Apply());
    }

    /// <summary>Per-channel mean and standard deviation of value <paramref name="name"/> over all images.</summary>
    private static (double[] Mean, double[] Std) Statistics(ModelGraph g, string name, RandomImages data)
    {
        using var m = new GraphModule(g);
        m.eval();
        var batches = new List<float[]>();
        long channels = 0;
        using (no_grad())
            foreach (var batch in data.Epoch(0))
            {
                using var scope = NewDisposeScope();
                var (x, _) = Trainer.ToTensors(batch, m.Device);
                var v = m.Run(new Dictionary<string, Tensor> { [g.Inputs[0].Name] = x }, [name])[name];
                channels = v.shape[1];
                batches.Add(v.transpose(0, 1).reshape(channels, -1).contiguous().data<float>().ToArray());
            }
        var mean = new double[channels];
        var std = new double[channels];
        for (long c = 0; c < channels; c++)
        {
            var all = batches.SelectMany(a => a.Skip((int)(c * (a.Length / channels))).Take((int)(a.Length / channels))).Select(v => (double)v).ToList();
            mean[c] = all.Average();
            std[c] = Math.Sqrt(all.Average(v => (v - mean[c]) * (v - mean[c])));
        }
        return (mean, std);
    }

    [Fact]
    public void Recovery_gives_the_pruned_convolutions_the_dense_models_channel_statistics_and_adds_no_node()
    {
        var dense = Folded();
        var (plan, pruned) = Plan(dense, "a", [0, 2, 3, 5]);
        BatchNormRecovery.Layers(plan, pruned).ShouldBe(["a", "b"]); // a lost outputs, b inputs; c was not touched
        var data = new RandomImages(256, Image, batchSize: 64);
        var recovered = BatchNormRecovery.Run(plan, pruned, data, 256);
        recovered.Layers.ShouldBe(["a", "b"]);
        recovered.Graph.Nodes.Select(n => n.Op).ShouldBe(pruned.Nodes.Select(n => n.Op));
        recovered.Graph.Nodes.ShouldNotContain(n => n.Op == OpKind.BatchNormalization);

        // b's output: far from the dense statistics after pruning, on them after recovery (c's input channels are all kept).
        var bOut = dense.FindNode("b")!.Output;
        var want = Statistics(dense, bOut, data);
        var before = Statistics(pruned, bOut, data);
        var after = Statistics(recovered.Graph, bOut, data);
        double Gap((double[] Mean, double[] Std) s) => s.Mean.Select((m, c) => Math.Abs(m - want.Mean[c]) / want.Std[c])
            .Concat(s.Std.Select((v, c) => Math.Abs(v / want.Std[c] - 1))).Max();
        Gap(before).ShouldBeGreaterThan(0.2); // pruning visibly moved them, or the test proves nothing
        Gap(after).ShouldBeLessThan(0.03);

        // The saved file runs in ONNX Runtime as the in-memory model does.
        var bytes = OnnxSerializer.ToBytes(recovered.Graph);
        using var session = OnnxRuntimeSession.FromBytes(bytes, "recovered.onnx");
        var batch = data.Epoch(0).First();
        var (ort, shape) = session.Run(batch.Images, [batch.Count, .. Image]);
        using var m = new GraphModule(recovered.Graph);
        m.eval();
        using (no_grad())
        using (NewDisposeScope())
        {
            var (x, _) = Trainer.ToTensors(batch, m.Device);
            var ours = m.forward(x).contiguous().data<float>().ToArray();
            shape.ShouldBe([batch.Count, 4L, 10L, 10L]);
            ours.Zip(ort).Max(p => Math.Abs(p.First - p.Second)).ShouldBeLessThan(1e-4f);
        }
    }

    [Fact]
    public void A_model_with_batch_norms_is_left_to_recalibration()
    {
        var dense = ModelZoo.Create("resnet20", new ZooOptions(1, 16, 16, 10, Seed: 3));
        BatchNormRecovery.Applies(BatchNormRecoveryMode.Auto, dense).ShouldBeFalse();
        BatchNormRecovery.Applies(BatchNormRecoveryMode.Auto, Folded()).ShouldBeTrue();
        BatchNormRecovery.Applies(BatchNormRecoveryMode.Off, Folded()).ShouldBeFalse();
        BatchNormRecovery.Applies(BatchNormRecoveryMode.On, dense).ShouldBeTrue();
        var deps = DependencyGraph.Build(dense);
        var plan = new PruningPlan(deps, deps.Prunable.ToDictionary(g => g, g => (IReadOnlyCollection<long>)g.InEveryBlock([0L, 1L])));
        BatchNormRecovery.Layers(plan, plan.Apply()).ShouldBeEmpty(); // every convolution has its own batch norm
    }

    [Fact]
    public void Off_leaves_the_pipeline_result_bit_identical_and_auto_recovers_a_folded_model()
    {
        var data = Secateur.Tests.Workflows.WorkflowData.Slice(128, 64);
        var b = new GraphBuilder("folded28", 1, 28, 28, seed: 4);
        var a = b.Relu(b.Conv(b.Input, "a", 8, 3, pad: 1, bias: true));
        var c = b.Relu(b.Conv(a, "b", 6, 3, stride: 2, pad: 1, bias: true));
        var g = b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(c)), "fc", 10), "y");
        PruneOutcome Run(BatchNormRecoveryMode mode) => PruningPipeline.Run(g, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Ratio = 0.5 }, Allocation = new AllocationOptions(RoundTo: 1),
            Data = data, RecalibrationImages = 128, BatchNormRecovery = mode,
        });
        var off = Run(BatchNormRecoveryMode.Off);
        var plain = Pruner.Prune(g, Importances.Create("l1"), new PruningOptions { Target = new PruningTarget { Ratio = 0.5 }, Allocation = new AllocationOptions(RoundTo: 1) }).Pruned;
        off.Stages.BatchNormRecovered.ShouldBeNull();
        foreach (var (name, t) in plain.Initializers) off.Graph.Initializers[name].Floats.ShouldBe(t.Floats, name);
        var auto = Run(BatchNormRecoveryMode.Auto);
        auto.Stages.BatchNormRecovered.ShouldNotBeNull();
        auto.Graph.Nodes.Count.ShouldBe(off.Graph.Nodes.Count);
        auto.Graph.Initializers["a.weight"].Floats.ShouldNotBe(off.Graph.Initializers["a.weight"].Floats);
    }
}
