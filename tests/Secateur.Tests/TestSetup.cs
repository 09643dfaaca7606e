using System.Runtime.CompilerServices;

namespace Secateur.Tests;

internal static class TestSetup
{
    // Tests call torch directly (randn, ones) before any Secateur type has loaded libtorch: load it first,
    // exactly as the library does, so that test order never matters.
    [ModuleInitializer]
    internal static void LoadTorch() => Secateur.Runtime.NativeLibraries.EnsureTorch();
}
