using System.Runtime.CompilerServices;

namespace Secateur.Tests;

internal static class TestSetup
{
    // Tests call torch directly (randn, ones) before any Secateur type has loaded libtorch: load it first,
    // exactly as the library does, so that test order never matters. A child process started by ChildProcess
    // checks what the library loads by itself, so it must start without libtorch.
    [ModuleInitializer]
    internal static void LoadTorch()
    {
        if (Environment.GetEnvironmentVariable(ChildProcess.Variable) is null)
            Secateur.Runtime.NativeLibraries.EnsureTorch();
    }
}
