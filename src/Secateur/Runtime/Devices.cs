using static TorchSharp.torch;

namespace Secateur.Runtime;

/// <summary>Parses device names ("cpu", "cuda", "cuda:1") and checks that the device exists.</summary>
public static class Devices
{
    /// <summary>The device named <paramref name="name"/>; CPU for null or empty.</summary>
    public static Device Parse(string? name)
    {
        NativeLibraries.EnsureTorch();
        if (string.IsNullOrWhiteSpace(name) || name.Equals("cpu", StringComparison.OrdinalIgnoreCase)) return CPU;
        if (!name.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
            throw new SecateurException(ErrorCode.BadArgument, $"unknown device '{name}'; use cpu, cuda or cuda:N");
        if (!cuda.is_available())
            throw new SecateurException(ErrorCode.DeviceUnavailable,
                $"device '{name}' is not available: the installed TorchSharp package is CPU-only or no CUDA GPU was found (reference TorchSharp-cuda-linux instead of TorchSharp-cpu to use a GPU)");
        return device(name.ToLowerInvariant());
    }
}
