using TorchSharp;
using static TorchSharp.torch;

namespace Secateur.Runtime;

/// <summary>The number format a <see cref="GraphModule"/> computes its convolutions and matrix products in.</summary>
public enum Precision
{
    /// <summary>Everything in 32-bit floats (the default).</summary>
    Float32,

    /// <summary>
    /// Mixed precision: convolutions and matrix products (Conv, ConvTranspose, Gemm, MatMul) take their inputs and
    /// weights rounded to bfloat16 and return float32; every other op, the weights themselves (the master copy the
    /// optimizer updates), batch-norm statistics and the loss stay float32. Needs a CPU with native bfloat16
    /// arithmetic (AVX-512 BF16 or AMX) or a CUDA device.
    /// </summary>
    BFloat16,
}

/// <summary>Which devices can compute in which <see cref="Precision"/>.</summary>
public static class PrecisionSupport
{
    private static readonly Lazy<string> CpuFlags = new(ReadCpuFlags);

    /// <summary>
    /// Throws <see cref="SecateurException"/> (DeviceUnavailable) when <paramref name="device"/> cannot compute in
    /// <paramref name="precision"/>: bfloat16 on a CPU without AVX-512 BF16 or AMX (libtorch would emulate it, slower
    /// than float32), or on a system where the CPU's features cannot be read.
    /// </summary>
    /// <param name="precision">The precision asked for.</param>
    /// <param name="device">The device that would compute (CPU when null).</param>
    public static void Require(Precision precision, Device? device = null)
    {
        if (precision == Precision.Float32 || (device is not null && device.type == DeviceType.CUDA)) return;
        if (!CpuHasBFloat16(CpuFlags.Value))
            throw new SecateurException(ErrorCode.DeviceUnavailable,
                OperatingSystem.IsLinux()
                    ? "bfloat16 precision needs a CPU with native bfloat16 arithmetic (AVX-512 BF16 or AMX), and this one reports neither; use float32"
                    : "bfloat16 precision on the CPU is only offered on Linux, where the CPU's bfloat16 support can be read; use float32",
                nameof(Precision));
    }

    /// <summary>Whether a CPU with these feature flags (as in /proc/cpuinfo's "flags" line) has native bfloat16 arithmetic.</summary>
    internal static bool CpuHasBFloat16(string flags) =>
        flags.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries).Any(f => f is "avx512_bf16" or "amx_bf16");

    private static string ReadCpuFlags()
    {
        if (!OperatingSystem.IsLinux()) return "";
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
