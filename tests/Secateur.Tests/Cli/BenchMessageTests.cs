using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

/// <summary>Why a file's params and MACs are unknown fits on one line, even for an int8 file full of Q/DQ nodes.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class BenchMessageTests
{
    [Fact]
    public void Bench_on_an_int8_file_says_int8_in_one_short_line()
    {
        using var dir = new TempDir();
        var int8 = Path.Combine(dir.Path, "q.onnx");
        var (code, _, stderr) = CliTests.Run("quantize", "lenet5", "--data", "embedded", "--test-limit", "50", "--runs", "2", "-o", int8);
        code.ShouldBe(0, stderr);
        (code, var stdout, stderr) = CliTests.Run("bench", int8, "--runs", "2");
        code.ShouldBe(0, stderr);
        var line = stdout.Split('\n').Single(l => l.Contains("params and MACs unknown", StringComparison.Ordinal));
        line.ShouldContain("int8 (QDQ)");
        line.Length.ShouldBeLessThan(200);
    }
}
