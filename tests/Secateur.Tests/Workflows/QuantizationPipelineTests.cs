using Secateur.Deployment;
using Secateur.Models;
using Secateur.Quantization;
using Secateur.Reporting;
using Secateur.Training;
using Secateur.Tests.Data;

namespace Secateur.Tests.Workflows;

public sealed class QuantizationPipelineTests
{
    [Fact]
    public void Quantizes_saves_evaluates_both_models_and_times_each_batch_size()
    {
        using var dir = new TempDir();
        var output = dir.File("m.int8.onnx");
        var lines = new List<string>();
        var request = new QuantizationRequest
        {
            Options = new QuantizationOptions { CalibrationImages = 64 },
            Latency = new LatencyOptions { BatchSizes = [1, 4], Warmup = 1, Runs = 2 },
            Session = new SessionSettings(1),
        };
        var r = QuantizationPipeline.Run(ModelZoo.Create("lenet5"), WorkflowData.Slice(256, 100), output, request, WorkflowProgress.ToLines(lines.Add), floatBytes: 1234);
        r.Int8Bytes.ShouldBe(new FileInfo(output).Length);
        r.FloatBytes.ShouldBe(1234); // the caller's size of the input, not the re-serialised graph
        r.SizeRatio.ShouldBe(1234 / (double)r.Int8Bytes);
        r.AccuracyDropPoints.ShouldBe((r.FloatAccuracy - r.Int8Accuracy) * 100);
        r.CalibrationImages.ShouldBe(64);
        r.TestImages.ShouldBe(100);
        r.Threads.ShouldBe(1);
        r.Latency.Select(l => (l.Batch, l.Runs)).ShouldBe([(1, 2), (4, 2)]);
        lines[0].ShouldStartWith("calibrating on 64 ");
        Reports.From(r).Accuracy.Select(a => a.Stage).ShouldBe(["fp32 (ONNX Runtime)", "int8 (ONNX Runtime)", "same prediction"]);
    }
}
