using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

/// <summary>JSON strings read as typed, and counts take their plural only when they are not one.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class JsonTextTests
{
    [Fact]
    public void Json_output_and_report_files_keep_a_plus_sign_as_typed()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "a+b.onnx");
        var report = Path.Combine(dir.Path, "r+s.json");
        var (code, stdout, stderr) = CliTests.Run("prune", "lenet5", "--speedup", "1.5", "--round-to", "1", "-o", output, "--report", report, "--json");
        code.ShouldBe(0, stderr);
        stdout.ShouldContain("a+b.onnx");
        stdout.ShouldNotContain("\\u002B");
        File.ReadAllText(report).ShouldNotContain("\\u002B");
    }

    [Fact]
    public void One_epoch_is_singular()
    {
        using var dir = new TempDir();
        var (code, _, stderr) = CliTests.Run("train", "lenet5", "--data", "embedded", "--train-limit", "64", "--epochs", "1", "-o", Path.Combine(dir.Path, "t.onnx"));
        code.ShouldBe(0, stderr);
        stderr.ShouldContain("1 epoch)");
        stderr.ShouldNotContain("1 epochs");
    }
}

/// <summary>A ratio's JSON name says what it divides: MACs or measured latency; the old name stays beside it.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class JsonNamingTests
{
    [Fact]
    public void Prune_names_its_macs_ratio_and_bench_its_latency_ratio_keeping_the_old_name()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "p.onnx");
        var (code, stdout, stderr) = CliTests.Run("prune", "lenet5", "--speedup", "1.5", "--round-to", "1", "-o", output, "--json");
        code.ShouldBe(0, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(stdout))
            doc.RootElement.GetProperty("macsSpeedup").GetDouble().ShouldBe(doc.RootElement.GetProperty("speedup").GetDouble());
        (code, stdout, stderr) = CliTests.Run("bench", output, "--against", "lenet5", "--runs", "2", "--json");
        code.ShouldBe(0, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(stdout))
        {
            var row = doc.RootElement.GetProperty("results")[0];
            row.GetProperty("latencySpeedup").GetDouble().ShouldBe(row.GetProperty("speedup").GetDouble());
        }
    }
}
