namespace Secateur.Runtime;

/// <summary>
/// The one call with which an application lets Secateur tune process-wide settings that belong to the application,
/// not to a library: today glibc's allocator thresholds (<see cref="MallocTuning"/>). The <c>secateur</c> tool makes it
/// at start-up; a library caller gets none of it unless it calls <see cref="ConfigureProcess"/>.
/// </summary>
/// <remarks>
/// <para>
/// What stays automatic, because without it the library does not work at all: making TorchSharp's native library
/// loadable (<see cref="NativeLibraries.EnsureTorch"/>, which on systems with an older libstdc++, such as Debian 12,
/// loads a patched private copy of <c>libLibTorchSharp.so</c> and registers a native-library resolver for the
/// TorchSharp assembly). It happens only when a tensor is first needed; managed-only work (graphs, ONNX, magnitude
/// and batch-norm criteria, allocation, removal) never triggers it.
/// </para>
/// <para>
/// What is opt-in, because it changes how the whole process behaves and costs memory: the allocator tuning keeps
/// freed large blocks in the heap (the process keeps its peak heap) instead of re-faulting them from the kernel on
/// every training step. It is worth it for training-heavy hosts: measured on the 2-core reference machine it removes
/// 90,000–160,000 minor page faults a second from MobileNetV2 training (see docs/troubleshooting.md). Call it early, before the
/// first large allocation; calling it again does nothing.
/// </para>
/// </remarks>
public static class SecateurRuntime
{
    private static volatile bool processConfigured;

    /// <summary>Whether <see cref="ConfigureProcess"/> has been called in this process (the opt-in, whatever it achieved).</summary>
    public static bool ProcessConfigured => processConfigured;

    /// <summary>
    /// Opts this process into Secateur's process-wide tuning. Thread-safe and idempotent. Honours the user's own
    /// choices: nothing changes if <c>SECATEUR_MALLOC_TUNING=0</c>, if glibc's allocator is already tuned through the
    /// environment (<c>MALLOC_*_</c> or <c>GLIBC_TUNABLES</c>), or off glibc.
    /// </summary>
    /// <returns>Whether the allocator tuning is in effect (<see cref="MallocTuning.Applied"/>).</returns>
    public static bool ConfigureProcess()
    {
        processConfigured = true;
        return MallocTuning.Apply();
    }
}
