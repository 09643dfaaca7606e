using System.Text.Json;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;

namespace Secateur.Tests.Cli;

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class BenchCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    public void Bench_json_reports_every_batch_size_with_sane_statistics()
    {
        var (code, output, error) = Run("bench", "lenet5", "--batch", "1,4", "--threads", "1", "--warmup", "2", "--runs", "7", "--json");
        code.ShouldBe(0, error);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        root.GetProperty("model").GetProperty("macs").GetInt64().ShouldBe(416_520);
        root.GetProperty("model").GetProperty("input").GetString().ShouldBe("Nx1x28x28");
        root.GetProperty("threads").GetInt32().ShouldBe(1);
        root.TryGetProperty("baseline", out _).ShouldBeFalse();
        var results = root.GetProperty("results").EnumerateArray().ToList();
        results.Select(r => r.GetProperty("batch").GetInt32()).ShouldBe([1, 4]);
        foreach (var r in results)
        {
            var m = r.GetProperty("model");
            m.GetProperty("runs").GetInt32().ShouldBe(7);
            m.GetProperty("p50Ms").GetDouble().ShouldBeLessThanOrEqualTo(m.GetProperty("p90Ms").GetDouble());
            // Throughput is the batch over the mean latency: checks the JSON carries the row's own figures.
            m.GetProperty("imagesPerSecond").GetDouble().ShouldBe(r.GetProperty("batch").GetInt32() * 1000 / m.GetProperty("meanMs").GetDouble(), 1e-6);
        }
    }

    [Fact]
    public void Bench_against_compares_a_pruned_file_with_its_dense_model()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-bench");
        try
        {
            var dense = ModelZoo.Create("lenet5");
            var densePath = Path.Combine(dir.FullName, "dense.onnx");
            var prunedPath = Path.Combine(dir.FullName, "pruned.onnx");
            OnnxSerializer.Save(dense, densePath);
            OnnxSerializer.Save(Pruner.Prune(dense, new MagnitudeImportance(1), new PruningOptions { Target = new PruningTarget { Speedup = 2 } }).Pruned, prunedPath);

            var (code, output, error) = Run("bench", prunedPath, "--against", densePath, "--batch", "2", "--threads", "1", "--warmup", "1", "--runs", "5", "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(output);
            var root = doc.RootElement;
            long denseMacs = root.GetProperty("baseline").GetProperty("macs").GetInt64();
            long prunedMacs = root.GetProperty("model").GetProperty("macs").GetInt64();
            denseMacs.ShouldBe(416_520);
            root.GetProperty("macsRatio").GetDouble().ShouldBe(denseMacs / (double)prunedMacs, 1e-9);
            root.GetProperty("macsRatio").GetDouble().ShouldBeGreaterThanOrEqualTo(2);
            var row = root.GetProperty("results").EnumerateArray().Single();
            row.GetProperty("model").GetProperty("runs").GetInt32().ShouldBe(5);
            row.GetProperty("baseline").GetProperty("runs").GetInt32().ShouldBe(5);
            // The speed-up is the median over ABBA rounds, so it lies within the rounds' interquartile range.
            double speedup = row.GetProperty("speedup").GetDouble();
            row.GetProperty("rounds").GetInt32().ShouldBeGreaterThanOrEqualTo(1);
            row.GetProperty("speedupLow").GetDouble().ShouldBeLessThanOrEqualTo(speedup);
            row.GetProperty("speedupHigh").GetDouble().ShouldBeGreaterThanOrEqualTo(speedup);

            (code, output, error) = Run("bench", prunedPath, "--against", densePath, "--threads", "1", "--warmup", "0", "--runs", "3");
            code.ShouldBe(0, error);
            output.ShouldContain("speed-up");
            output.ShouldContain("MACs ratio");
            output.ShouldContain($"{denseMacs / (double)prunedMacs:0.00}x");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void A_model_secateur_cannot_import_is_still_timed_with_counts_unknown()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-bench");
        try
        {
            // An op outside Secateur's subset (Sin; Tanh joined the subset in issue 12) that ONNX Runtime runs: rename a Relu in the exported protobuf.
            var graph = ModelZoo.Create("lenet5");
            var model = Secateur.Onnx.Proto.ModelProto.Parser.ParseFrom(OnnxSerializer.ToBytes(graph));
            model.Graph.Node.First(n => n.OpType == "Relu").OpType = "Sin";
            var path = Path.Combine(dir.FullName, "sin.onnx");
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));

            var (code, output, error) = Run("bench", path, "--threads", "1", "--warmup", "0", "--runs", "3", "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(output);
            var m = doc.RootElement.GetProperty("model");
            m.TryGetProperty("macs", out _).ShouldBeFalse();
            m.GetProperty("note").GetString()!.ShouldContain("unknown");
            doc.RootElement.GetProperty("results")[0].GetProperty("model").GetProperty("runs").GetInt32().ShouldBe(3);
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData(5, "bench", "lenet5", "--batch", "0")]
    [InlineData(5, "bench", "lenet5", "--batch", "1,x")]
    [InlineData(5, "bench", "lenet5", "--runs", "0")]
    [InlineData(5, "bench", "lenet5", "--threads", "0")]
    [InlineData(5, "bench", "lenet5", "--input-shape", "3x28x28")]
    [InlineData(2, "bench", "/nonexistent/model.onnx")]
    public void Bench_mistakes_are_one_line_errors(int expected, params string[] args)
    {
        var (code, _, error) = Run(args);
        code.ShouldBe(expected, error);
        error.Trim().Split('\n').Length.ShouldBe(1);
        error.ShouldStartWith("error: ");
    }
}
