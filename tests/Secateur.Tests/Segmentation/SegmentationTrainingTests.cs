using Secateur.Data;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Tests.Segmentation;

/// <summary>A tiny U-Net trained and pruned on a few generated canvases: the segmentation path end to end, in seconds.</summary>
[Trait("Category", TestCategories.Slow)]
public sealed class SegmentationTrainingTests
{
    private static DataSet Canvases(int train, int test) => Secateur.Tests.Training.SegmentationCanvases.Make(train, test);

    [Fact]
    public void A_tiny_unet_trains_on_generated_canvases_and_its_mean_IoU_rises()
    {
        var data = Canvases(48, 48);
        var graph = ModelZoo.Create("unet", new ZooOptions(1, 32, 32, 11, Seed: 2));
        using var module = new GraphModule(graph);
        // Scored on the training canvases: a few steps must fit them better, which is what "learns" means here.
        var before = Trainer.Evaluate(module, data.Loader(data.Train));
        before.Segmentation.ShouldNotBeNull();
        var trainer = new Trainer(module, new TrainingOptions { Epochs = 4, BatchSize = 8, Optimizer = OptimizerKind.AdamW, LearningRate = 0.01, WeightDecay = 0, Augment = false });
        var history = trainer.Fit(data.TrainLoader(8, 0, augment: false));
        var after = Trainer.Evaluate(module, data.Loader(data.Train));
        history[^1].Train.Loss.ShouldBeLessThan(history[0].Train.Loss);
        after.Segmentation!.MeanIoU.ShouldBeGreaterThan(before.Segmentation.MeanIoU + 0.05);
        after.Score.ShouldBe(after.Segmentation.MeanIoU);
        after.Top1.ShouldBe(after.Segmentation.PixelAccuracy);
    }

    [Fact]
    public void Pruning_a_segmentation_model_2x_keeps_its_output_shape_and_scores_every_stage_by_mean_IoU()
    {
        var data = Canvases(32, 16);
        var graph = ModelZoo.Create("unet", new ZooOptions(1, 32, 32, 11));
        var outcome = PruningPipeline.Run(graph, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 }, Allocation = new AllocationOptions(RoundTo: 1),
            Data = data, RecalibrationImages = 32, FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 1, BatchSize = 8 },
        });
        outcome.Speedup.ShouldBeGreaterThanOrEqualTo(2);
        Secateur.Graph.ShapeInference.Infer(outcome.Graph, 2)["logits"].ShouldBe([2L, 11L, 32L, 32L]);
        using var module = new GraphModule(outcome.Graph);
        var scores = Trainer.Evaluate(module, data.TestLoader()).Segmentation!;
        outcome.Stages.FineTuned.ShouldBe(scores.MeanIoU);
        outcome.Stages.Pruned.ShouldNotBeNull();
        outcome.Stages.Recalibrated.ShouldNotBeNull();
        outcome.History.Single().Test!.Segmentation.ShouldNotBeNull();
    }
}
