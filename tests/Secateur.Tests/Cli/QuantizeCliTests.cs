using System.Text.Json;
using Secateur.Deployment;
using Secateur.Onnx;

namespace Secateur.Tests.Cli;

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class QuantizeCliTests
{
    [Fact]
    public void Quantize_json_reports_accuracy_size_and_latency_and_writes_an_int8_model()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-quantize");
        try
        {
            var model = Path.Combine(dir.FullName, "lenet.onnx");
            OnnxSerializer.Save(Secateur.Models.ModelZoo.Create("lenet5"), model);
            var (code, output, error) = CliTests.Run("quantize", model, "--data", "embedded", "--calibration-images", "64", "--method", "percentile",
                "--percentile", "99.9", "--test-limit", "100", "--batch", "1,4", "--runs", "3", "--threads", "1", "--json",
                "--report", Path.Combine(dir.FullName, "q.html"));
            code.ShouldBe(0, error);
            error.ShouldContain("calibrating on 64");
            var page = File.ReadAllText(Path.Combine(dir.FullName, "q.html"));
            page.ShouldContain("int8 (ONNX Runtime)");
            page.ShouldContain("ORT p50 latency, batch 4");
            var int8 = Path.Combine(dir.FullName, "lenet.int8.onnx");
            File.Exists(int8).ShouldBeTrue();

            using var doc = JsonDocument.Parse(output);
            var root = doc.RootElement;
            root.GetProperty("output").GetString().ShouldBe(int8);
            root.GetProperty("method").GetString().ShouldBe("percentile 99.9");
            root.GetProperty("calibrationImages").GetInt32().ShouldBe(64);
            root.GetProperty("testImages").GetInt64().ShouldBe(100);
            root.GetProperty("int8Bytes").GetInt64().ShouldBe(new FileInfo(int8).Length);
            root.GetProperty("floatBytes").GetInt64().ShouldBe(new FileInfo(model).Length);
            root.GetProperty("sizeRatio").GetDouble().ShouldBeGreaterThan(3.0);
            root.GetProperty("agreement").GetDouble().ShouldBeInRange(0.0, 1.0);
            var latency = root.GetProperty("latency").EnumerateArray().ToList();
            latency.Select(l => l.GetProperty("batch").GetInt32()).ShouldBe([1, 4]);
            latency.ShouldAllBe(l => l.GetProperty("runs").GetInt32() == 3 && l.GetProperty("int8P50Ms").GetDouble() > 0);

            // The accuracy the verb reports is what ONNX Runtime gives on the written file fed as it records (the
            // untrained model records none, so the verb chose a preset and says which).
            using var session = OnnxRuntimeSession.FromFile(int8);
            var fed = Secateur.Graph.InputPreprocessing.Parse(root.GetProperty("preprocessing").GetString()!);
            OnnxSerializer.Load(model).Preprocessing.ShouldBeNull();
            root.GetProperty("preprocessingChoice").GetProperty("candidates").GetArrayLength().ShouldBeGreaterThan(1);
            var data = Secateur.Data.DataSource.Resolve("embedded", new Secateur.Data.DataSourceOptions { Preprocessing = fed });
            var eval = OnnxRuntimeEvaluation.Evaluate(session, (data with { Test = data.Test.Take(100) }).TestLoader());
            root.GetProperty("int8Accuracy").GetDouble().ShouldBe(eval.Top1, 1e-12);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("quantize", "lenet5", "-o", "x.onnx")] // no --data
    [InlineData("quantize", "lenet5", "--data", "embedded", "--method", "entropy")]
    [InlineData("quantize", "lenet5", "--data", "embedded", "--method", "percentile", "--percentile", "100.5")]
    [InlineData("quantize", "lenet5", "--data", "embedded", "--percentile", "99.9")] // percentile without --method percentile
    [InlineData("quantize", "lenet5", "--data", "embedded", "--calibration-images", "0")]
    [InlineData("quantize", "lenet5", "--data", "embedded", "--batch", "0")]
    public void Quantize_mistakes_give_one_line_and_exit_code_5(params string[] args)
    {
        var (code, _, error) = CliTests.Run(args);
        code.ShouldBe(5, error);
        error.Trim().Split('\n').Length.ShouldBe(1);
        error.ShouldStartWith("error: ");
    }
}
