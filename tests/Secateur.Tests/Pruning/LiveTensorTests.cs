using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;

namespace Secateur.Tests.Pruning;

/// <summary>Repeated scoring and recalibration cycles free every tensor they make (TorchSharp's live count stays flat).</summary>
public sealed class LiveTensorTests
{
    private static readonly DataSet Data = DataSource.Resolve("embedded");

    [Theory]
    [InlineData("taylor")]
    [InlineData("reconstruction")]
    [InlineData("activation")]
    [InlineData("apoz")]
    [Trait("Category", TestCategories.Slow)]
    public void Repeated_data_driven_scoring_does_not_grow_live_tensors(string criterion)
    {
        // ResNet-20 has batch norms, residual adds and a classifier: every kind of slice the criteria visit.
        var graph = ModelZoo.Create("resnet20");
        var deps = DependencyGraph.Build(graph);
        var importance = Importances.Create(criterion);
        var context = new ImportanceContext(Data.WithTrain(Data.Train.Take(64)).TrainLoader(32, 0, augment: false), MaxBatches: 2);
        long groups = 0;
        LiveTensors.GrowthOver(() => groups = importance.Score(deps, context).Count).ShouldBeLessThanOrEqualTo(0);
        groups.ShouldBe(deps.Prunable.Count()); // the cycles really scored
    }

    [Fact]
    public void Repeated_batch_norm_recalibration_does_not_grow_live_tensors()
    {
        var graph = ModelZoo.Create("resnet20");
        var data = Data.WithTrain(Data.Train.Take(64)).TrainLoader(32, 0, augment: false);
        ModelGraph? recalibrated = null;
        LiveTensors.GrowthOver(() => recalibrated = BatchNormRecalibration.Recalibrate(graph, data, 64)).ShouldBeLessThanOrEqualTo(0);
        // The cycles really re-estimated statistics (the zoo's running variance starts at 1).
        recalibrated.ShouldNotBeNull().Initializers["bn1.running_var"].Floats.ShouldNotBe(graph.Initializers["bn1.running_var"].Floats);
    }
}
