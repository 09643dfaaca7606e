using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Pruning.Unstructured;
using Secateur.Quantization;
using Secateur.Training;

namespace Secateur.Tests.Workflows;

public sealed class FineTunerTests
{
    private static readonly DataSet Data = WorkflowData.Slice(128, 100);
    private static readonly TrainingOptions OneEpoch = PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 32 };

    private static float[] Weights(ModelGraph g) => g.Initializers["fc1.weight"].Floats.ToArray();

    [Fact]
    public void A_teacher_changes_what_fine_tuning_learns()
    {
        var student = ModelZoo.Create("lenet5");
        var teacher = ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 10, Seed: 7)); // different weights, so different targets
        var plain = new FineTuner(Data, OneEpoch).Run(student, "plain");
        var distilled = new FineTuner(Data, OneEpoch) { Teacher = teacher, Distillation = new DistillationOptions(Alpha: 0.9) }.Run(student, "distilled");
        plain.History.Count.ShouldBe(1);
        distilled.History.Count.ShouldBe(1);
        Weights(plain.Graph).ShouldNotBe(Weights(student));
        // Same seed, same batches: only the loss differs, so the weights must too.
        Weights(distilled.Graph).ShouldNotBe(Weights(plain.Graph));
        // And without a teacher the run is reproducible, so the difference above is the teacher's.
        Weights(new FineTuner(Data, OneEpoch).Run(student, "again").Graph).ShouldBe(Weights(plain.Graph));
    }

    [Fact]
    public void Zero_epochs_return_the_graph_itself_and_a_rewind_epoch_is_captured_inside_the_run()
    {
        var g = ModelZoo.Create("lenet5");
        new FineTuner(Data, OneEpoch with { Epochs = 0 }).Run(g, "nothing").Graph.ShouldBeSameAs(g);
        var run = new FineTuner(Data, OneEpoch with { Epochs = 2 }).Run(g, "two", rewindEpoch: 1);
        run.Rewind.ShouldNotBeNull();
        Weights(run.Rewind).ShouldNotBe(Weights(g));
        Weights(run.Rewind).ShouldNotBe(Weights(run.Graph)); // epoch 1's weights, not the final ones
    }

    [Fact]
    public void A_constraint_holds_throughout_fine_tuning()
    {
        var g = ModelZoo.Create("lenet5");
        var masks = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.7 });
        using var constraint = masks.ToConstraint();
        var run = new FineTuner(Data, OneEpoch).Run(masks.Apply(g), "masked", constraint: constraint);
        masks.IsSatisfiedBy(run.Graph).ShouldBeTrue();
        Weights(run.Graph).ShouldNotBe(Weights(masks.Apply(g)));
    }

    [Fact]
    public void Sparsity_request_validation_holds_the_lottery_distillation_and_checkpoint_rules()
    {
        var sparsity = new SparsityOptions { Sparsity = 0.5 };
        var lottery = new SparsityScheduleOptions(SparsityScheduleKind.Lottery, 2, RewindEpoch: 1);
        string? P(SparsityRequest r) => Should.Throw<SecateurException>(() => r.Validated()).Parameter;
        P(new SparsityRequest { Sparsity = sparsity, Schedule = lottery }).ShouldBe(nameof(SparsityRequest.Data));
        P(new SparsityRequest { Sparsity = sparsity, Schedule = lottery, Data = Data, FineTuning = OneEpoch }).ShouldBe(nameof(SparsityScheduleOptions.RewindEpoch));
        P(new SparsityRequest { Sparsity = sparsity, Schedule = lottery, Data = Data, FineTuning = OneEpoch with { Epochs = 2 }, Distillation = new DistillationOptions() })
            .ShouldBe(nameof(SparsityRequest.Distillation));
        P(new SparsityRequest { Sparsity = sparsity, Schedule = new SparsityScheduleOptions(SparsityScheduleKind.Agp), Data = Data, FineTuning = OneEpoch with { CheckpointPath = "c.ckpt" } })
            .ShouldBe(nameof(TrainingOptions.CheckpointPath));
        P(new SparsityRequest { Sparsity = sparsity with { Nm = new NmPattern(2, 4) }, Schedule = new SparsityScheduleOptions(SparsityScheduleKind.Agp) })
            .ShouldBe(nameof(SparsityRequest.Schedule));
        P(new SparsityRequest { Sparsity = sparsity, FineTuning = OneEpoch }).ShouldBe(nameof(SparsityRequest.Data));
        new SparsityRequest { Sparsity = sparsity, Schedule = lottery, Data = Data, FineTuning = OneEpoch with { Epochs = 2 } }.Validated().ShouldNotBeNull();
    }

    [Fact]
    public void A_percentile_with_min_max_calibration_is_rejected_by_the_options()
    {
        Should.Throw<SecateurException>(() => new QuantizationOptions { Percentile = 99.9 }.Validated()).Parameter.ShouldBe(nameof(QuantizationOptions.Percentile));
        new QuantizationOptions { Method = CalibrationMethod.Percentile, Percentile = 99.9 }.Validated().EffectivePercentile.ShouldBe(99.9);
        new QuantizationOptions().Validated().EffectivePercentile.ShouldBe(QuantizationOptions.DefaultPercentile);
    }

    [Fact]
    public void The_sparsity_pipeline_fine_tunes_with_the_masks_fixed_and_reports_every_layer()
    {
        var outcome = SparsityPipeline.Run(ModelZoo.Create("lenet5"), new SparsityRequest { Sparsity = new SparsityOptions { Sparsity = 0.8 }, Data = Data, FineTuning = OneEpoch });
        outcome.History.Count.ShouldBe(1);
        outcome.AccuracyBefore.ShouldNotBeNull();
        outcome.AccuracyFineTuned.ShouldBe(Trainer.Accuracy(outcome.Graph, Data.TestLoader()));
        outcome.Result.Masks.IsSatisfiedBy(outcome.Graph).ShouldBeTrue();
        outcome.Layers.Single(l => l.Layer == "fc3").Dense.ShouldBeTrue(); // the classifier stays dense
        outcome.Layers.Where(l => !l.Dense).ShouldAllBe(l => Math.Abs(l.Sparsity - 0.8) < 0.01);
    }
}
