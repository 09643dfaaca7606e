using Secateur.Runtime;

namespace Secateur.Tests.Cli;

/// <summary><c>--precision</c> of the training verbs (issue 16).</summary>
public sealed class PrecisionCliTests
{
    private static bool CpuHasBFloat16 =>
        PrecisionSupport.CpuHasBFloat16(File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "" : "");

    [Fact]
    public void An_unknown_precision_is_refused_by_the_parser()
    {
        var (code, _, error) = CliTests.Run("train", "lenet5", "--data", "embedded", "--epochs", "1", "--precision", "fp16");
        code.ShouldNotBe(0);
        error.ShouldContain("fp16");
    }

    [Fact]
    public void Bf16_trains_where_the_cpu_has_it_and_is_refused_with_the_flag_named_where_not()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-precision");
        try
        {
            var model = Path.Combine(dir.FullName, "lenet.onnx");
            var (code, output, error) = CliTests.Run("train", "lenet5", "--data", "embedded", "--epochs", "1", "--train-limit", "256",
                "--batch-size", "64", "--lr", "0.05", "--precision", "bf16", "-o", model, "--json");
            if (CpuHasBFloat16)
            {
                code.ShouldBe(0, error);
                File.Exists(model).ShouldBeTrue();
                output.ShouldContain("accuracy");
            }
            else
            {
                code.ShouldBe((int)ErrorCode.DeviceUnavailable, error);
                error.ShouldContain("bfloat16");
                error.ShouldContain("--precision");
                File.Exists(model).ShouldBeFalse();
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
