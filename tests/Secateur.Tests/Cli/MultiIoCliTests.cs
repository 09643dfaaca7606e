using System.Text.Json;
using Secateur.Deployment;

namespace Secateur.Tests.Cli;

/// <summary>Models with several inputs or outputs (issue 12): ONNX Runtime sessions feed and compute all of them; inspect and bench show them.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class MultiIoCliTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage", file);

    [Fact]
    public void A_session_feeds_every_input_and_computes_every_output()
    {
        using var two = OnnxRuntimeSession.FromFile(Fixture("twoinput.fold.op13.onnx"));
        two.AllInputDims.Count.ShouldBe(2);
        var shape = two.InputShape(2);
        var (output, outShape) = two.Run(new float[Secateur.Graph.TensorData.ElementCount(shape)], shape);
        outShape[0].ShouldBe(2);
        output.Length.ShouldBe((int)Secateur.Graph.TensorData.ElementCount(outShape));

        using var yolo = OnnxRuntimeSession.FromFile(Fixture("yolo.fold.op13.onnx"));
        yolo.OutputNames.ShouldBe(["p3", "p4", "p5"]);
    }

    [Fact]
    public void Inspect_names_every_input_and_output_and_bench_times_a_three_output_detector()
    {
        var (code, output, error) = CliTests.Run("inspect", Fixture("yolo.fold.op13.onnx"));
        code.ShouldBe(0, error);
        output.ShouldContain("outputs p3 ");
        output.ShouldContain("p5 ");

        (code, output, error) = CliTests.Run("inspect", Fixture("twoinput.fold.op13.onnx"), "--json");
        code.ShouldBe(0, error);
        using (var doc = JsonDocument.Parse(output))
            doc.RootElement.GetProperty("inputs").GetArrayLength().ShouldBe(2);

        (code, output, error) = CliTests.Run("bench", Fixture("yolo.fold.op13.onnx"), "--batch", "1", "--threads", "1", "--warmup", "1", "--runs", "3", "--json");
        code.ShouldBe(0, error);
        output.ShouldContain("p50");
    }
}
