using System.Runtime.InteropServices;

namespace Secateur.Runtime;

// TEMPORARY until feat/native lands (replaced by NativeLibraries.cs): hard-wired probe of the fix.
internal static class NativeLibraries
{
    private static readonly Lazy<bool> Done = new(() =>
    {
        var dirs = ((string?)AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        var dir = dirs.First(d => File.Exists(Path.Combine(d, "libLibTorchSharp.so")));
        NativeLibrary.Load(Path.Combine(dir, "libtorch.so"));
        var h = NativeLibrary.Load("/tmp/patched/libLibTorchSharp.so");
        NativeLibrary.SetDllImportResolver(typeof(TorchSharp.torch).Assembly, (name, asm, path) => name == "LibTorchSharp" ? h : IntPtr.Zero);
        return true;
    });

    public static void EnsureTorch() => _ = Done.Value;
}
