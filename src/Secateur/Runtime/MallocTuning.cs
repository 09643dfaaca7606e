using System.Runtime.InteropServices;

namespace Secateur.Runtime;

/// <summary>
/// Keeps glibc's allocator from handing libtorch's large tensor buffers back to the kernel after every use.
/// </summary>
/// <remarks>
/// libtorch allocates CPU tensors with plain <c>posix_memalign</c> and frees them as soon as they die. glibc serves
/// blocks above its mmap threshold (at most 32 MiB with the default dynamic threshold) with a fresh <c>mmap</c> and
/// unmaps them on free, so every training step of a network with large activations (MobileNetV2 at batch 128 has
/// 77 MB tensors) re-faults hundreds of megabytes of zeroed pages: measured on the 2-core machine, 90,000–160,000 minor page
/// faults a second and about 40% of the CPU time spent in the kernel. <see cref="Apply"/> raises the mmap and trim
/// thresholds, so freed buffers stay in the heap and are reused; the process then keeps its peak heap instead of
/// returning it. Blocks larger than a secondary thread's heap (64 MiB) are still mapped per use on those threads:
/// glibc fixes that limit, and the thread arenas are chosen before Secateur runs. It does nothing if the user already tuned glibc's allocator through the environment
/// (<c>MALLOC_*_</c> variables or <c>GLIBC_TUNABLES</c>), if <c>SECATEUR_MALLOC_TUNING=0</c>, or off glibc.
/// <para>
/// It is process-wide, so it is never applied behind a library caller's back: the application opts in with
/// <see cref="SecateurRuntime.ConfigureProcess"/> (the <c>secateur</c> tool does so at start-up).
/// </para>
/// </remarks>
public static partial class MallocTuning
{
    /// <summary>The environment variable that disables the tuning when set to <c>0</c>.</summary>
    public const string EnvironmentVariable = "SECATEUR_MALLOC_TUNING";

    private const int MTrimThreshold = -1, MTopPad = -2, MMmapThreshold = -3;
    private static readonly Lock Gate = new();
    private static bool? applied;

    /// <summary>Whether the allocator's settings were changed in this process (only ever after <see cref="SecateurRuntime.ConfigureProcess"/>).</summary>
    public static bool Applied => applied == true;

    /// <summary>Applies the settings once per process (thread-safe); returns whether they are in effect.</summary>
    /// <remarks>Internal: <see cref="SecateurRuntime.ConfigureProcess"/> is the one public way in, so the opt-in is visible.</remarks>
    internal static bool Apply()
    {
        lock (Gate)
        {
            applied ??= TryApply();
            return applied.Value;
        }
    }

    private static bool TryApply()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(EnvironmentVariable) == "0")
            return false;
        var environment = Environment.GetEnvironmentVariables().Keys.Cast<string>();
        if (environment.Any(name => name == "GLIBC_TUNABLES" || (name.StartsWith("MALLOC_", StringComparison.Ordinal) && name.EndsWith('_'))))
            return false;
        try
        {
            // mallopt returns 1 on success; musl's is a stub that returns 0, and then nothing changed.
            return mallopt(MMmapThreshold, 1 << 30) == 1
                   & mallopt(MTrimThreshold, int.MaxValue) == 1
                   & mallopt(MTopPad, 64 << 20) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc.so.6")]
    private static partial int mallopt(int parameter, int value);
}
