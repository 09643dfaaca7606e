using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning.Unstructured;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Tests.Pruning.Unstructured;

public sealed class SparsityScheduleTests
{
    private static readonly DataSet Data = DataSource.Resolve("embedded");

    [Fact]
    public void Agp_follows_the_cubic_and_iterative_removes_the_same_fraction_of_the_rest_each_step()
    {
        var agp = SparsitySchedule.Targets(SparsityScheduleKind.Agp, 0.9, 4);
        agp.Count.ShouldBe(4);
        agp[0].ShouldBe(0.9 - 0.9 * Math.Pow(0.75, 3), 1e-12); // s_f + (s_i − s_f)(1 − t/n)³ with s_i = 0
        agp[1].ShouldBe(0.9 - 0.9 * 0.125, 1e-12);
        agp[3].ShouldBe(0.9);
        var it = SparsitySchedule.Targets(SparsityScheduleKind.Iterative, 0.99, 2);
        it[0].ShouldBe(0.9, 1e-12); // density 1 → 0.1 → 0.01
        SparsitySchedule.Targets(SparsityScheduleKind.OneShot, 0.7, 5).ShouldBe([0.7]);
    }

    [Fact]
    public void Masked_weights_stay_exactly_zero_through_fine_tuning_and_the_others_learn()
    {
        var g = ModelZoo.Create("lenet5");
        var masks = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.9 });
        var sparse = masks.Apply(g);
        using var module = new GraphModule(sparse);
        using var constraint = masks.ToConstraint();
        // Momentum and weight decay would revive pruned weights within one step without the constraint.
        new Trainer(module, new TrainingOptions { Epochs = 2, BatchSize = 32, LearningRate = 0.05, WeightDecay = 5e-4 }) { Constraint = constraint }
            .Fit(Data.WithTrain(Data.Train.Take(256)).TrainLoader(32, 0));
        var trained = module.ToGraph();
        foreach (var (name, keep) in masks.Keep)
        {
            var w = trained.Initializers[name].Floats;
            for (int i = 0; i < keep.Length; i++)
                if (!keep[i]) BitConverter.SingleToInt32Bits(w[i]).ShouldBe(0, $"{name}[{i}]"); // +0.0, not -0.0
            w.Where((v, i) => keep[i] && v != sparse.Initializers[name].Floats[i]).Count().ShouldBeGreaterThan(keep.Count(k => k) / 2);
        }
        masks.IsSatisfiedBy(trained).ShouldBeTrue();
    }

    [Fact]
    public void Applying_the_mask_constraint_repeatedly_does_not_grow_live_tensors()
    {
        var g = ModelZoo.Create("lenet5");
        var masks = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.5 });
        using var module = new GraphModule(g);
        using var constraint = masks.ToConstraint();
        constraint.Apply(module);
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 5; i++) constraint.Apply(module);
        (TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount - before).ShouldBeLessThanOrEqualTo(0);
        masks.IsSatisfiedBy(module.ToGraph()).ShouldBeTrue();
    }

    [Fact]
    public void Without_the_constraint_the_same_training_revives_pruned_weights()
    {
        var g = ModelZoo.Create("lenet5");
        var masks = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.9 });
        using var module = new GraphModule(masks.Apply(g));
        new Trainer(module, new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.05 }).Fit(Data.WithTrain(Data.Train.Take(64)).TrainLoader(32, 0));
        masks.IsSatisfiedBy(module.ToGraph()).ShouldBeFalse();
    }

    [Fact]
    public void Resuming_from_a_dense_checkpoint_applies_the_masks_to_the_restored_weights()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-sparse-ckpt");
        try
        {
            var path = Path.Combine(dir.FullName, "run.ckpt");
            var data = Data.WithTrain(Data.Train.Take(64));
            var options = new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.05, CheckpointPath = path };
            var g = ModelZoo.Create("lenet5");
            using (var dense = new GraphModule(g)) new Trainer(dense, options).Fit(data.TrainLoader(32, 0)); // checkpoint of a dense model
            var masks = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.5 });
            using var module = new GraphModule(masks.Apply(g));
            using var constraint = masks.ToConstraint();
            // Every epoch is already done: the only thing that runs is the restore, which must honour the masks.
            new Trainer(module, options with { Resume = true }) { Constraint = constraint }.Fit(data.TrainLoader(32, 0));
            var restored = module.ToGraph();
            masks.IsSatisfiedBy(restored).ShouldBeTrue();
            restored.Initializers["fc3.weight"].Floats.ShouldBe(Checkpoint.LoadGraph(path).Initializers["fc3.weight"].Floats);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Iterative_schedule_grows_the_masks_step_by_step_to_the_target()
    {
        var g = ModelZoo.Create("lenet5");
        var seen = new List<WeightMasks>();
        var result = SparsitySchedule.Run(g, new SparsityOptions { Sparsity = 0.9 }, new SparsityScheduleOptions(SparsityScheduleKind.Iterative, Steps: 3),
            (step, graph, masks, rewind) =>
            {
                step.ShouldBe(seen.Count + 1);
                rewind.ShouldBeNull();
                masks!.IsSatisfiedBy(graph).ShouldBeTrue();
                seen.Add(masks);
                return new MaskedTraining(graph);
            }, _ => null);
        seen.Count.ShouldBe(3);
        for (int s = 1; s < seen.Count; s++)
            foreach (var (name, keep) in seen[s - 1].Keep)
                keep.Zip(seen[s].Keep[name]).ShouldAllBe(p => p.First || !p.Second); // pruned stays pruned
        result.Steps.Select(s => s.Sparsity).ShouldBeInOrder(SortDirection.Ascending);
        result.Steps[^1].Sparsity.ShouldBe(0.9, 1e-4);
        result.Steps.ShouldAllBe(s => s.Note.EndsWith("pruned (no fine-tuning)")); // the stand-in trainer returned its input
        result.Report.NonZeroParams.ShouldBe(result.Steps[^1].NonZeroParams);
        result.Report.Layers.Single(l => l.Layer == "fc3").NonZero.ShouldBe(840);
    }

    [Fact]
    public void Lottery_rewinds_the_survivors_to_the_epoch_k_weights_each_round()
    {
        var g = ModelZoo.Create("lenet5");
        // A stand-in trainer: "training" adds 1 to every non-masked weight; the epoch-k weights are the start + 0.5.
        static ModelGraph Shift(ModelGraph x, float by, WeightMasks? masks)
        {
            var y = x.Clone();
            foreach (var name in y.ParameterNames())
            {
                var w = y.Initializers[name].Floats;
                var keep = masks?.Keep.GetValueOrDefault(name);
                for (int i = 0; i < w.Length; i++) if (keep is null || keep[i]) w[i] += by;
            }
            return y;
        }
        var starts = new List<(int Step, ModelGraph Graph, WeightMasks? Masks)>();
        var result = SparsitySchedule.Run(g, new SparsityOptions { Sparsity = 0.75 }, new SparsityScheduleOptions(SparsityScheduleKind.Lottery, Steps: 2, RewindEpoch: 1),
            (step, graph, masks, rewind) =>
            {
                starts.Add((step, graph, masks));
                rewind.ShouldBe(step == 0 ? 1 : null);
                return new MaskedTraining(Shift(graph, 1f, masks), step == 0 ? Shift(graph, 0.5f, null) : null);
            }, _ => null);
        starts.Select(s => s.Step).ShouldBe([0, 1, 2]);
        starts[0].Masks.ShouldBeNull();
        foreach (var (step, start, masks) in starts.Skip(1))
        {
            var w = start.Initializers["conv2.weight"].Floats;
            var w0 = g.Initializers["conv2.weight"].Floats;
            var keep = masks!.Keep["conv2.weight"];
            for (int i = 0; i < w.Length; i++) w[i].ShouldBe(keep[i] ? w0[i] + 0.5f : 0f, $"round {step}, element {i}");
        }
        // Each round prunes half of the rest: 50% then 75%.
        result.Steps.Select(s => s.Step).ShouldBe([0, 1, 2]);
        result.Steps[1].Sparsity.ShouldBe(0.5, 1e-3);
        result.Steps[2].Sparsity.ShouldBe(0.75, 1e-3);
        result.Masks.IsSatisfiedBy(result.Graph).ShouldBeTrue();
    }
}
