using Secateur.Data;
using Secateur.Models;
using Secateur.Quantization;

namespace Secateur.Tests.Quantization;

public sealed class CalibratorLiveTensorTests
{
    [Theory]
    [Trait("Category", TestCategories.Slow)]
    [InlineData(CalibrationMethod.MinMax)]
    [InlineData(CalibrationMethod.Percentile)]
    public void Repeated_int8_calibration_does_not_grow_live_tensors(CalibrationMethod method)
    {
        var data = DataSource.Resolve("embedded");
        var graph = ModelZoo.Create("lenet5");
        var batches = data.WithTrain(data.Train.Take(64)).TrainLoader(32, 0, augment: false).Epoch(0).ToList();
        // Every node output, as the quantizer asks for, plus the input.
        string[] tensors = [graph.Inputs[0].Name, .. graph.Nodes.SelectMany(n => n.Outputs)];
        Dictionary<string, ActivationRange>? ranges = null;
        LiveTensors.GrowthOver(() => ranges = Calibrator.Calibrate(graph, batches, tensors, method)).ShouldBeLessThanOrEqualTo(0);
        ranges.ShouldNotBeNull().Count.ShouldBe(tensors.Length);
    }
}
