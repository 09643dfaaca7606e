using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Tests.Workflows;
using Secateur.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Tests.Training;

/// <summary>Distilling segmentation outputs (class maps, N×K×H×W): per-pixel KL, class-balanced or not, and what label-free training reports.</summary>
public sealed class ClassMapDistillationTests
{
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

    [Fact]
    public void Balanced_weights_match_a_hand_computed_2x2_case()
    {
        using var scope = NewDisposeScope();
        // One 2×2 map: three background pixels, one of class 1; class 2 does not occur (K = 3, C = 2, P = 4).
        var top = tensor(new long[] { 0, 0, 0, 1 }, [1, 2, 2]);
        var w = Distiller.BalancedWeights(top, 3);
        w.shape.ShouldBe([1L, 2L, 2L]);
        // P / (C · n_c): 4 / (2 · 3) for the background, 4 / (2 · 1) for class 1; each class weighs 2 in total.
        w.data<float>().ToArray().ShouldBe([2f / 3, 2f / 3, 2f / 3, 2f], 1e-6f);
        w.sum().item<float>().ShouldBe(4f, 1e-5f);
    }

    /// <summary>Three images of 1×2 pixels: (1, 0), (0, 1), (1, 1).</summary>
    private static Tensor ThreeImages() => tensor(new float[] { 1, 0, 0, 1, 1, 1 }, [3, 1, 1, 2]);

    [Fact]
    public void Per_pixel_KL_and_its_class_balanced_form_match_hand_computed_values()
    {
        // Teacher: class 0 where x > 0.5 → top classes (0, 1), (1, 0), (0, 0): n_0 = 4, n_1 = 2, C = 2, P = 6.
        var teacher = ClassMap("t", [1, -1], [-0.5f, 0.5f]);
        var student = ClassMap("s", [0.3f, 0.2f], [0.1f, -0.2f]);
        using var t = new GraphModule(teacher);
        using var s = new GraphModule(student);
        using var scope = NewDisposeScope();
        var x = ThreeImages();
        var outputs = s.Run(new Dictionary<string, Tensor> { [student.Inputs[0].Name] = x });
        double temp = 2;
        double Loss(ClassMapLoss kind) => new Distiller(s, [t], new DistillationOptions(Temperature: temp) { ClassMaps = kind }).Loss(outputs, x).Loss.item<float>();
        // KL per pixel (3, 1, 2) at T, by hand from the two maps.
        var p = F.softmax(t.forward(x) / temp, 1);
        var kl = (p * (p.log() - F.log_softmax(s.forward(x) / temp, 1))).sum(1).data<float>().ToArray(); // pixels in order
        double[] weights = [0.75, 1.5, 1.5, 0.75, 0.75, 0.75]; // 6 / (2 · 4) for class 0, 6 / (2 · 2) for class 1
        Loss(ClassMapLoss.PixelKl).ShouldBe(kl.Average() * temp * temp, 1e-5);
        Loss(ClassMapLoss.BalancedKl).ShouldBe(kl.Select((v, i) => v * weights[i]).Sum() / 6 * temp * temp, 1e-5);
        Math.Abs(Loss(ClassMapLoss.BalancedKl) - Loss(ClassMapLoss.PixelKl)).ShouldBeGreaterThan(1e-4);
        // MSE (and Auto, for a distiller built directly) is the normalised MSE every other output gets.
        var teacherMap = t.forward(x);
        double mse = (F.mse_loss(s.forward(x), teacherMap) / (teacherMap.var() + 1e-8)).item<float>();
        Loss(ClassMapLoss.Mse).ShouldBe(mse, 1e-5);
        Loss(ClassMapLoss.Auto).ShouldBe(mse, 1e-5);
    }

    [Fact]
    public void A_class_map_reports_the_teachers_top_class_per_pixel_whatever_its_loss()
    {
        var teacher = ClassMap("t", [1, -1], [-0.5f, 0.5f]);
        var student = ClassMap("s", [0, 0], [1, 0]); // class 0 everywhere
        using var t = new GraphModule(teacher);
        using var s = new GraphModule(student);
        using var scope = NewDisposeScope();
        var x = ThreeImages();
        var outputs = s.Run(new Dictionary<string, Tensor> { [student.Inputs[0].Name] = x });
        foreach (var kind in new[] { ClassMapLoss.Mse, ClassMapLoss.PixelKl, ClassMapLoss.BalancedKl })
        {
            var d = new Distiller(s, [t], new DistillationOptions { ClassMaps = kind }).Loss(outputs, x);
            d.TeacherTop1!.shape.ShouldBe([3L, 1L, 2L]);
            d.TeacherTop1.data<long>().ToArray().ShouldBe([0L, 1, 1, 0, 0, 0]);
            d.StudentTop1!.data<long>().ToArray().ShouldBe([0L, 0, 0, 0, 0, 0]);
        }
    }

    [Fact]
    public void Auto_is_balanced_KL_on_segmentation_data_and_MSE_on_classification_data()
    {
        var classification = WorkflowData.Slice(8, 4);
        var masks = Enumerable.Range(0, 4).Select(_ => (ReadOnlyMemory<byte>)new byte[28 * 28]).ToArray();
        var segmentation = classification with { Test = classification.Test.WithMasks(masks, 2) };
        new DistillationOptions().For(classification).ClassMaps.ShouldBe(ClassMapLoss.Mse);
        new DistillationOptions().For(segmentation).ClassMaps.ShouldBe(ClassMapLoss.BalancedKl);
        // Masks on the test split are enough: a label-free run has dropped the training masks.
        new DistillationOptions().For(segmentation.WithoutTrainLabels()).ClassMaps.ShouldBe(ClassMapLoss.BalancedKl);
        new DistillationOptions { ClassMaps = ClassMapLoss.PixelKl }.For(segmentation).ClassMaps.ShouldBe(ClassMapLoss.PixelKl);
        Should.Throw<SecateurException>(() => new DistillationOptions { ClassMaps = (ClassMapLoss)42 }.Validated())
            .Parameter.ShouldBe(nameof(DistillationOptions.ClassMaps));
    }

    /// <summary>Records every batch report of every training run.</summary>
    private sealed class Recorder : IWorkflowProgress
    {
        public List<TrainingProgress> Batches { get; } = [];

        public void Log(string line) { }

        public IReadOnlyList<EpochResult> Train(string title, int epochs, int totalBatches, TrainingRun run) =>
            run(new Sink(Batches), null);

        private sealed class Sink(List<TrainingProgress> into) : IProgress<TrainingProgress>
        {
            public void Report(TrainingProgress value) => into.Add(value);
        }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Label_free_recovery_of_a_pruned_tiny_unet_raises_its_agreement_with_the_teacher_and_reports_pixel_agreement()
    {
        var data = SegmentationCanvases.Make(48, 32);
        // A teacher worth agreeing with: a tiny U-Net fitted briefly to the canvases' masks.
        var teacher = new FineTuner(data, new TrainingOptions { Epochs = 4, BatchSize = 8, Optimizer = OptimizerKind.AdamW, LearningRate = 0.01, WeightDecay = 0, Augment = false })
            .Run(ModelZoo.Create("unet", new ZooOptions(1, 32, 32, 11, Seed: 2)), "teacher").Graph;
        // The student: the teacher pruned 2× (L1), then fine-tuned without the training masks.
        var unlabelled = data.WithoutTrainLabels();
        var progress = new Recorder();
        var outcome = PruningPipeline.Run(teacher, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 }, Allocation = new AllocationOptions(RoundTo: 1),
            Data = unlabelled, RecalibrationImages = 48,
            FineTuning = new TrainingOptions { Epochs = 3, BatchSize = 8, Optimizer = OptimizerKind.AdamW, LearningRate = 0.005, WeightDecay = 0, Augment = false },
        }, progress);
        var agreement = outcome.Agreement.ShouldNotBeNull();
        var pruned = agreement.Recalibrated.ShouldNotBeNull().Outputs.Single();
        var tuned = agreement.FineTuned.ShouldNotBeNull().Outputs.Single();
        // Measured 11.6% → 16.1% (the teacher, four epochs on 48 canvases, is mostly background; KL leaves logit offsets free,
        // so the relative error of the scores is not what it lowers).
        tuned.MeanIoU!.Value.ShouldBeGreaterThan(pruned.MeanIoU!.Value * 1.2, $"mIoU against the teacher: {pruned.MeanIoU:P2} after recalibration");
        // What the progress line shows is per-pixel agreement with the teacher, not accuracy against absent masks.
        progress.Batches.ShouldNotBeEmpty();
        progress.Batches.ShouldAllBe(b => b.Agreement);
        progress.Batches[^1].Accuracy.ShouldBeGreaterThan(0.5);
        var run = outcome.History;
        run.ShouldAllBe(e => e.TrainAgreement && e.Train.Top1 > 0);
    }
}

/// <summary>Generated Fashion-MNIST canvases (32×32, up to two garments, 11 classes) with masks, for segmentation tests.</summary>
internal static class SegmentationCanvases
{
    /// <summary><paramref name="train"/> training and <paramref name="test"/> test canvases.</summary>
    public static DataSet Make(int train, int test)
    {
        var options = new FashionSegmentationOptions { CanvasSize = 32, MaxGarments = 2, Seed = 1 };
        ImageDataset Set(ImageDataset garments, int count, int stream)
        {
            var (images, masks) = FashionSegmentation.Compose(garments, count, options, stream);
            var pixels = images.SelectMany(i => i).ToArray();
            return ImageDataset.FromBytes(pixels, new ImageShape(1, 32, 32), new int[count], 1, name: "canvases")
                .WithMasks([.. masks.Select(m => (ReadOnlyMemory<byte>)m)], FashionSegmentation.ClassNames.Count, classNames: FashionSegmentation.ClassNames);
        }
        return new DataSet("canvases", Set(EmbeddedFashionMnist.Load(true), train, 1), Set(EmbeddedFashionMnist.Load(false), test, 2), InputPreprocessing.Unit);
    }
}
