using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Tests.Workflows;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Tests.Training;

/// <summary>Label-free recovery (issue 13): distillation without labels, agreement with a reference model, the errors.</summary>
public sealed class LabelFreeTests
{
    private static readonly TrainingOptions Recipe = PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 32, LearningRate = 0.02 };

    /// <summary>x (N, 1, 1, 2) → Flatten → Gemm with weight <paramref name="w"/> (2×2, row-major, output × input), no bias → (N, 2).</summary>
    private static ModelGraph Linear2(string name, float[] w)
    {
        var b = new GraphBuilder(name, 1, 1, 2);
        var f = b.Flatten(b.Input);
        var y = b.Linear(f, "fc", 2, bias: false);
        var g = b.Build(y);
        g.Initializers["fc.weight"] = TensorData.FromFloats(w, 2, 2);
        return g;
    }

    /// <summary>x (N, 1, 1, 2) → 1×1 Conv to 2 channels with <paramref name="w"/> and <paramref name="bias"/> → a class map (N, 2, 1, 2).</summary>
    private static ModelGraph ClassMap(string name, float[] w, float[] bias)
    {
        var b = new GraphBuilder(name, 1, 1, 2);
        var y = b.Conv(b.Input, "conv", 2, 1, bias: true);
        var g = b.Build(y, "map");
        g.Initializers["conv.weight"] = TensorData.FromFloats(w, 2, 1, 1, 1);
        g.Initializers["conv.bias"] = TensorData.FromFloats(bias, 2);
        return g;
    }

    /// <summary>Two images of 1×1×2 pixels: (1, 0) and (0, 1), fed as they are.</summary>
    private static DataLoader TwoImages() =>
        new(ImageDataset.FromFloats([1, 0, 0, 1], new ImageShape(1, 1, 2), [0, 0], 1).WithoutLabels(), 2);

    [Fact]
    public void Agreement_matches_a_hand_computed_classifier_case()
    {
        // Reference: identity, outputs (1, 0) and (0, 1). Model: diag(1, −1), outputs (1, 0) and (0, −1).
        var report = Agreement.Measure(Linear2("m", [1, 0, 0, -1]), Linear2("ref", [1, 0, 0, 1]), TwoImages());
        var o = report.Outputs.ShouldHaveSingleItem();
        report.Samples.ShouldBe(2);
        o.Kind.ShouldBe("classifier");
        o.RelativeError.ShouldBe(Math.Sqrt(4.0 / 2.0), 1e-9); // ‖(0,0,0,−2)‖ / ‖(1,0,0,1)‖
        o.Cosine.ShouldBe(0, 1e-9);                           // (1 + (−1)) / 2
        o.Top1.ShouldBe(0.5);                                 // argmax 0 = 0; argmax (0, −1) = 0 ≠ 1
        o.MeanIoU.ShouldBeNull();
        Agreement.Measure(Linear2("same", [1, 0, 0, 1]), Linear2("ref", [1, 0, 0, 1]), TwoImages()).Score.ShouldBe(1);
    }

    [Fact]
    public void Agreement_of_a_class_map_is_the_mean_IoU_of_the_argmax_maps()
    {
        // Reference: class 0 where x > 0.5 → maps (0, 1) and (1, 0). Model: class 0 everywhere.
        var reference = ClassMap("ref", [1, -1], [-0.5f, 0.5f]);
        var model = ClassMap("m", [0, 0], [1, 0]);
        var o = Agreement.Measure(model, reference, TwoImages()).Outputs.ShouldHaveSingleItem();
        o.Kind.ShouldBe("class map");
        o.Top1.ShouldBeNull();
        // Class 0: 2 pixels in both, 4 in either → 0.5; class 1: 0 in both, 2 in either → 0; mean 0.25.
        o.MeanIoU.ShouldBe(0.25);
    }

    [Fact]
    public void Several_teachers_are_averaged_and_every_output_is_distilled()
    {
        var student = Linear2("s", [0.5f, 0.1f, -0.2f, 0.3f]);
        var a = Linear2("a", [1, 0, 0, 1]);
        var b = Linear2("b", [0, 1, 1, 0]);
        using var s = new GraphModule(student);
        using var ta = new GraphModule(a);
        using var tb = new GraphModule(b);
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, 0, 0.5f, 0.25f }, [2, 1, 1, 2]);
        var outputs = s.Run(new Dictionary<string, Tensor> { [student.Inputs[0].Name] = x });
        double t = 2;
        double loss = new Distiller(s, [ta, tb], new DistillationOptions(Temperature: t)).Loss(outputs, x).Loss.item<float>();
        // By hand: KL(mean of the teachers' softened probabilities ‖ the student's), batch mean, × T².
        var p = (nn.functional.softmax(ta.forward(x) / t, 1) + nn.functional.softmax(tb.forward(x) / t, 1)) / 2;
        double expected = (p * (p.log() - nn.functional.log_softmax(s.forward(x) / t, 1))).sum().item<float>() / 2 * t * t;
        loss.ShouldBe(expected, 1e-5);
        // One teacher alone gives another value: the second one counts.
        Math.Abs(new Distiller(s, [ta], new DistillationOptions(Temperature: t)).Loss(outputs, x).Loss.item<float>() - loss).ShouldBeGreaterThan(1e-4);
    }

    /// <summary>Two heads on one trunk: classifier logits (N, 10) and a 4-channel map (N, 4, 14, 14).</summary>
    private static ModelGraph TwoHeads(int seed)
    {
        var b = new GraphBuilder("twoheads", 1, 28, 28, seed);
        var x = b.Relu(b.BatchNorm(b.Conv(b.Input, "conv1", 8, 3, stride: 2, pad: 1), "bn1"));
        var logits = b.Linear(b.Flatten(b.GlobalAvgPool(x)), "fc", 10);
        var map = b.Conv(x, "head2", 4, 1, bias: true);
        return b.Build([logits, map]);
    }

    /// <summary>Mean KL(teacher ‖ student) at T = 4 of the first output over the test images.</summary>
    private static double Kl(ModelGraph student, ModelGraph teacher, DataSet data)
    {
        using var s = new GraphModule(student);
        using var t = new GraphModule(teacher);
        s.eval();
        t.eval();
        using var grad = no_grad();
        double sum = 0;
        long n = 0;
        foreach (var batch in data.TestLoader().Epoch(0))
        {
            using var scope = NewDisposeScope();
            var (x, _) = Trainer.ToTensors(batch, s.Device);
            var p = nn.functional.softmax(t.forward(x) / 4, 1);
            sum += (p * (p.log() - nn.functional.log_softmax(s.forward(x) / 4, 1))).sum().item<float>();
            n += batch.Count;
        }
        return sum / n;
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Label_free_fine_tuning_keeps_both_heads_of_a_multi_output_model()
    {
        var data = WorkflowData.Slice(256, 100).WithoutTrainLabels();
        var teacher = TwoHeads(1);
        // Confident logits (as a trained classifier's are), so the classifier's term is not negligible beside the map's.
        foreach (var name in new[] { "fc.weight", "fc.bias" })
            teacher.Initializers[name] = TensorData.FromFloats([.. teacher.Initializers[name].Floats.ToArray().Select(v => v * 30)], teacher.Initializers[name].Shape);
        var student = TwoHeads(2);
        var before = Agreement.Measure(student, teacher, data.TestLoader());
        var run = new FineTuner(data, Recipe with { Epochs = 3 }) { Teacher = teacher }.Run(student, "label-free");
        var after = Agreement.Measure(run.Graph, teacher, data.TestLoader());
        after.Outputs.Count.ShouldBe(2);
        // Both heads move towards the teacher: the loss reaches every output, not only the first.
        // KL at the distillation temperature is what the classifier head is taught (logits match only up to a shift).
        Kl(run.Graph, teacher, data).ShouldBeLessThan(Kl(student, teacher, data) * 0.9);
        after.Outputs[1].RelativeError.ShouldBeLessThan(before.Outputs[1].RelativeError * 0.9);
        run.History.ShouldAllBe(e => e.Test != null); // the test split still has labels: accuracy per epoch
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Label_free_pruning_raises_agreement_with_the_dense_model_on_held_out_images()
    {
        var data = WorkflowData.Slice(512, 200);
        // A dense model worth agreeing with: LeNet-5 trained briefly with labels.
        var dense = new FineTuner(data, PruneRequest.DefaultFineTuning with { Epochs = 2, BatchSize = 32, LearningRate = 0.05 }).Run(ModelZoo.Create("lenet5"), "dense").Graph;
        var outcome = PruningPipeline.Run(dense, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 3 }, Allocation = new AllocationOptions(RoundTo: 1),
            Data = data.WithoutTrainLabels(), FineTuning = Recipe with { Epochs = 2 },
        });
        var agreement = outcome.Agreement.ShouldNotBeNull();
        var pruned = agreement.Pruned.ShouldNotBeNull().Outputs.Single().Top1!.Value;
        var tuned = agreement.FineTuned.ShouldNotBeNull().Outputs.Single().Top1!.Value;
        tuned.ShouldBeGreaterThan(pruned + 0.05);
        agreement.FineTuned.Outputs.Single().RelativeError.ShouldBeLessThan(agreement.Pruned.Outputs.Single().RelativeError);
        // Measured on the test split the run never trained on, and the test labels still score it.
        agreement.FineTuned.Samples.ShouldBe(200);
        outcome.Stages.FineTuned.ShouldNotBeNull();
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void The_dynamic_schedule_without_labels_decides_on_agreement_with_the_dense_model()
    {
        var data = WorkflowData.Slice(256, 50);
        var dense = new FineTuner(data, PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 32, LearningRate = 0.05 }).Run(ModelZoo.Create("lenet5"), "dense").Graph;
        var unlabelled = data.WithoutTrainLabels();
        var outcome = PruningPipeline.Run(dense, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 1.5 }, Allocation = new AllocationOptions(RoundTo: 1),
            Schedule = new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 1, Tolerance: 0.9), Data = unlabelled, RecalibrationImages = 0,
            BatchNormRecovery = BatchNormRecoveryMode.Off,
        });
        var step = outcome.Steps.Single();
        step.Accepted.ShouldBeTrue(step.Note);
        step.Note.ShouldContain("agreement");
        // The figure the step was judged on is the agreement score with the dense model on the held-out training
        // images (one step, no fine-tuning: the step's graph is the result) — not an accuracy, which needs labels.
        var held = HeldOut.Split(unlabelled, 0).Validation;
        held.IsLabelled.ShouldBeFalse();
        var agreement = Agreement.Measure(outcome.Graph, dense, (unlabelled with { Test = held }).TestLoader());
        step.Accuracy.ShouldNotBeNull().ShouldBe(agreement.Score, 1e-9);
        agreement.Score.ShouldBeLessThan(1.0); // pruning changed the outputs, so the figure is a real comparison
        // The report shows agreement beside the accuracies the test labels give.
        var stages = Secateur.Reporting.Reports.From(outcome).Accuracy;
        stages.Single(a => a.Stage == "agreement with the unpruned model, right after pruning").Value.ShouldBe(outcome.Agreement!.Pruned!.Score);
        stages.ShouldContain(a => a.Stage == "right after pruning");
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Label_free_fine_tuning_reads_no_label()
    {
        var data = WorkflowData.Slice(128, 50);
        var train = data.Train;
        var pixels = Enumerable.Range(0, train.Count).SelectMany(train.GetImage).ToArray();
        var shuffled = train.Labels.Select((l, i) => (l + i * 7 + 3) % train.ClassCount).ToArray();
        var relabelled = data.WithTrain(ImageDataset.FromFloats(pixels, train.Shape, shuffled, train.ClassCount));
        relabelled.Train.Labels.ShouldNotBe(train.Labels);
        var teacher = ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 10, Seed: 7));
        var student = ModelZoo.Create("lenet5");
        float[] Tuned(DataSet d) => new FineTuner(d.WithoutTrainLabels(), Recipe) { Teacher = teacher }.Run(student, "lf").Graph.Initializers["fc1.weight"].Floats.ToArray();
        Tuned(relabelled).ShouldBe(Tuned(data));
        // With labels the same data trains differently, so the equality above is the labels' absence.
        new FineTuner(relabelled, Recipe) { Teacher = teacher }.Run(student, "labelled").Graph.Initializers["fc1.weight"].Floats.ToArray().ShouldNotBe(Tuned(data));
    }

    [Fact]
    public void Unlabelled_data_refuses_what_needs_labels_in_one_line()
    {
        var data = WorkflowData.Slice(64, 20).WithoutTrainLabels();
        var target = new PruningTarget { Speedup = 2 };
        Should.Throw<SecateurException>(() => new PruneRequest { Importance = Importances.Create("taylor"), Target = target, Data = data }.Validated())
            .Parameter.ShouldBe(ParameterNames.Data);
        Should.Throw<SecateurException>(() => new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = target, Data = data, Allocation = new AllocationOptions(AllocationKind.Sensitivity),
        }.Validated()).Parameter.ShouldBe(nameof(PruningOptions.Sensitivity));
        var e = Should.Throw<SecateurException>(() => Trainer.Accuracy(ModelZoo.Create("lenet5"), data.Loader(data.Train)));
        e.Parameter.ShouldBe(ParameterNames.Data);
        e.Message.ShouldNotContain("\n");
        Should.Throw<SecateurException>(() => new FineTuner(data, Recipe).Run(ModelZoo.Create("lenet5"), "no teacher"));
        // A reference with another number of outputs cannot be compared.
        Should.Throw<SecateurException>(() => Agreement.Measure(ModelZoo.Create("lenet5"), TwoHeads(0), data.TestLoader()))
            .Parameter.ShouldBe(ParameterNames.Against);
    }
}
