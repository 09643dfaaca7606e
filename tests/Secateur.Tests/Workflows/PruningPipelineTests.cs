using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Reporting;
using Secateur.Training;

namespace Secateur.Tests.Workflows;

public sealed class PruningPipelineTests
{
    private static readonly DataSet Data = WorkflowData.Slice(256, 300);

    private static ModelGraph Zoo(string name) => ModelZoo.Create(name, new ZooOptions(1, 28, 28, 10));

    /// <summary>Channels of a group in <paramref name="graph"/>, read from its first producer's weight (independently of the library's bookkeeping).</summary>
    private static long Channels(ModelGraph graph, string producer)
    {
        var node = graph.FindNode(producer)!;
        var w = graph.Initializers[node.Inputs[1]].Shape;
        return node.Op == OpKind.Gemm && node.Int("transB", 0) == 0 ? w[1] : w[0];
    }

    [Fact]
    public void One_shot_with_recalibration_measures_every_stage_and_reports_the_groups_of_the_pruned_graph()
    {
        var graph = Zoo("resnet20");
        var outcome = PruningPipeline.Run(graph, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 }, Data = Data, RecalibrationImages = 256,
        });
        outcome.Speedup.ShouldBeGreaterThanOrEqualTo(2);
        outcome.Stages.Before.ShouldBe(Trainer.Accuracy(graph, Data.TestLoader()));
        outcome.Stages.Pruned.ShouldNotBeNull();
        outcome.Stages.Recalibrated.ShouldNotBeNull(); // resnet20 has batch norms: recalibration ran and was measured
        outcome.Stages.FineTuned.ShouldBeNull();       // no fine-tuning epochs
        outcome.Steps.Count.ShouldBe(1);
        outcome.History.ShouldBeEmpty();
        outcome.Groups.ShouldContain(g => g.After < g.Before);
        foreach (var g in outcome.Groups) g.After.ShouldBe(Channels(outcome.Graph, g.Layers[0]), g.Group);
        outcome.PruneSeconds.ShouldBeLessThan(outcome.TotalSeconds);
    }

    [Fact]
    public void An_iterative_schedule_fine_tunes_after_every_step_and_composes_the_group_changes()
    {
        var graph = Zoo("lenet5");
        var outcome = PruningPipeline.Run(graph, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 }, Allocation = new AllocationOptions(RoundTo: 1),
            Schedule = new ScheduleOptions(PruningScheduleKind.Iterative, Steps: 2), Data = Data,
            FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 64 },
        });
        outcome.Steps.Count.ShouldBe(2);
        outcome.Steps.ShouldAllBe(s => s.Accepted);
        outcome.History.Select(e => e.Epoch).ShouldBe([1, 1]); // one epoch per step
        outcome.Stages.FineTuned.ShouldBe(Trainer.Accuracy(outcome.Graph, Data.TestLoader()));
        foreach (var g in outcome.Groups)
        {
            g.Before.ShouldBe(Channels(graph, g.Layers[0]));
            g.After.ShouldBe(Channels(outcome.Graph, g.Layers[0]), g.Group);
        }
        var report = Reports.From(outcome);
        report.Training.Select(p => p.Label).ShouldBe(["step 1, epoch 1", "step 2, epoch 1"]);
        // LeNet-5 has no batch norm, so batch-norm recovery (auto) ran after pruning.
        report.Accuracy.Select(a => a.Stage).ShouldBe(["before pruning", "right after pruning (step 1)", "after BN recovery (step 1)", "after fine-tuning"]);
    }

    [Fact]
    public void The_dynamic_schedule_retries_a_rejected_step_with_the_fine_tuning_multiplied_by_the_retry_factor()
    {
        // A trained model, then fine-tuning too weak to recover (tiny learning rate) and no tolerance: step 1 is rejected.
        var trained = new FineTuner(Data, new TrainingOptions { Epochs = 2, BatchSize = 64 }).Run(Zoo("lenet5"), "train").Graph;
        var outcome = PruningPipeline.Run(trained, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 8 }, Allocation = new AllocationOptions(RoundTo: 1),
            Schedule = new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 2, Tolerance: 0, MaxRetries: 1), Data = Data,
            FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 64, LearningRate = 1e-6 }, RetryEpochFactor = 3,
        });
        outcome.Steps[0].Accepted.ShouldBeFalse(outcome.Steps[0].Note);
        // The first try fine-tunes 1 epoch, its retry 1 × 3.
        outcome.History.Select(e => e.Epoch).Take(4).ShouldBe([1, 1, 2, 3]);
    }

    [Fact]
    public void The_dynamic_schedule_decides_on_held_out_training_images_never_on_the_test_split()
    {
        // A test split whose every label is wrong: a trained model scores near 0 on it but well on training images.
        // Steps judged on the test split would read that near-0 figure; steps judged on held-out training data do not.
        var wrong = Data.Test.Take(Data.Test.Count);
        for (int i = 0; i < wrong.Count; i++) wrong.Labels[i] = (wrong.Labels[i] + 1) % wrong.ClassCount;
        var set = Data with { Test = wrong };
        var trained = new FineTuner(Data, new TrainingOptions { Epochs = 3, BatchSize = 32 }).Run(Zoo("lenet5"), "train").Graph;
        var outcome = PruningPipeline.Run(trained, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 1.2 }, Allocation = new AllocationOptions(RoundTo: 1),
            Schedule = new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 1, Tolerance: 0.9), Data = set, RecalibrationImages = 0,
        });
        outcome.Stages.Before!.Value.ShouldBeLessThan(0.2); // the final report still uses the (mislabelled) test split
        outcome.Steps[0].Accuracy!.Value.ShouldBeGreaterThan(outcome.Stages.Before!.Value + 0.2, outcome.Steps[0].Note);
    }

    [Fact]
    public void Request_validation_rejects_what_the_command_line_used_to_reject()
    {
        var target = new PruningTarget { Speedup = 2 };
        Parameter(new PruneRequest { Importance = Importances.Create("taylor"), Target = target }).ShouldBe(nameof(PruneRequest.Data));
        Parameter(new PruneRequest { Importance = Importances.Create("l1"), Target = target, FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 1 } })
            .ShouldBe(nameof(PruneRequest.Data));
        Parameter(new PruneRequest { Importance = Importances.Create("l1"), Target = target, Allocation = new AllocationOptions(AllocationKind.Sensitivity) })
            .ShouldBe(nameof(PruneRequest.Data));
        Parameter(new PruneRequest { Importance = Importances.Create("l1"), Target = target, Data = Data, RetryEpochFactor = 0 }).ShouldBe(nameof(PruneRequest.RetryEpochFactor));
        Parameter(new PruneRequest { Importance = Importances.Create("l1"), Target = target, Data = Data, Distillation = new DistillationOptions(Alpha: 1.5) })
            .ShouldBe(nameof(DistillationOptions.Alpha));
        Should.Throw<SecateurException>(() => new PruneRequest { Importance = Importances.Create("l1"), Target = target with { Ratio = 0.5 } }.Validated())
            .Code.ShouldBe(ErrorCode.BadArgument);
        new PruneRequest { Importance = Importances.Create("l1"), Target = target }.Validated().Data.ShouldBeNull(); // data-free is fine
    }

    private static string? Parameter(PruneRequest request) => Should.Throw<SecateurException>(() => request.Validated()).Parameter;
}
