using Secateur.Runtime;
using TorchSharp;

namespace Secateur.Tests.Runtime;

public sealed class NativeLibrariesTests : IDisposable
{
    private readonly string scratch = Directory.CreateTempSubdirectory("secateur-native-tests-").FullName;

    public void Dispose() => Directory.Delete(scratch, recursive: true);

    [Fact]
    public void EnsureTorch_ThenRealTorchCallWorks()
    {
        NativeLibraries.EnsureTorch();

        using var ones = torch.ones(3);
        using var sum = ones.sum();
        sum.item<float>().ShouldBe(3f);
        NativeLibraries.Status.ShouldNotBe(NativeFixStatus.NotChecked);
    }

    [Fact]
    public void EnsureTorch_ConcurrentAndRepeatedCalls_AreHarmless()
    {
        Parallel.For(0, 16, _ => NativeLibraries.EnsureTorch());
        var status = NativeLibraries.Status;

        NativeLibraries.EnsureTorch();

        NativeLibraries.Status.ShouldBe(status);
        using var t = torch.arange(4);
        t.sum().item<long>().ShouldBe(6L);
    }

    [SkippableFact]
    public void EnsureTorch_OnLinux_PatchesExactlyWhenTheSystemLibStdCxxLacksARequiredVersion()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the libstdc++ repair exists only on Linux");
        var original = ElfVersionPatcherTests.RequireRealLibraryPath();
        NativeLibraries.EnsureTorch();
        var libStdCxx = NativeLibraries.InspectLibStdCxx();
        libStdCxx.ShouldNotBeNull();

        var missing = NativeLibraries.MissingLibStdCxxVersions(File.ReadAllBytes(original), libStdCxx.Value.Definitions, original);

        if (missing.Count == 0)
        {
            NativeLibraries.Status.ShouldBe(NativeFixStatus.NotNeeded);
            NativeLibraries.PatchedLibraryPath.ShouldBeNull();
            NativeLibraries.WeakenedVersions.ShouldBeEmpty();
        }
        else
        {
            NativeLibraries.Status.ShouldBe(NativeFixStatus.Patched);
            NativeLibraries.WeakenedVersions.ShouldBe(missing);
            NativeLibraries.PatchedLibraryPath.ShouldNotBeNull().ShouldEndWith(NativeLibraries.LibTorchSharpFile);
            // The copy is what the process actually mapped.
            File.ReadAllText("/proc/self/maps").ShouldContain(NativeLibraries.PatchedLibraryPath);
        }
    }

    [SkippableFact]
    public void MappedFileContaining_FindsTheLoadedLibStdCxx()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "needs Linux (/proc/self/maps, the glibc dynamic loader)");

        var libStdCxx = NativeLibraries.InspectLibStdCxx();

        libStdCxx.ShouldNotBeNull();
        Path.GetFileName(libStdCxx.Value.Path).ShouldStartWith("libstdc++.so.6");
        libStdCxx.Value.Definitions.ShouldContain("GLIBCXX_3.4.29");
    }

    [SkippableFact]
    public void MissingLibStdCxxVersions_ReportsOnlyStrongRequirementsTheSystemLacks()
    {
        var path = ElfVersionPatcherTests.RequireRealLibraryPath();
        var elf = File.ReadAllBytes(path);
        var all = ElfVersionPatcher.ReadVersionNeeds(elf).Where(n => n.File == "libstdc++.so.6").Select(n => n.Version).ToHashSet();
        var withoutNewest = all.Where(v => v != "GLIBCXX_3.4.32").ToHashSet();

        NativeLibraries.MissingLibStdCxxVersions(elf, all, path).ShouldBeEmpty();
        NativeLibraries.MissingLibStdCxxVersions(elf, withoutNewest, path).ShouldBe(["GLIBCXX_3.4.32"]);
        var patched = ElfVersionPatcher.MarkWeak(elf, "GLIBCXX_3.4.32");
        NativeLibraries.MissingLibStdCxxVersions(patched, withoutNewest, path).ShouldBeEmpty();
    }

    [Fact]
    public void CacheRoots_HonourOverrideThenXdgThenHome()
    {
        var env = new Dictionary<string, string?>
        {
            [NativeLibraries.CacheEnvironmentVariable] = "/opt/cache",
            ["XDG_CACHE_HOME"] = "/xdg",
            ["HOME"] = "/home/u",
        };
        string? Lookup(string name) => env.GetValueOrDefault(name);

        NativeLibraries.CacheRoots(Lookup).ShouldBe([Path.GetFullPath("/opt/cache")]);
        env[NativeLibraries.CacheEnvironmentVariable] = "";
        NativeLibraries.CacheRoots(Lookup).ShouldBe([Path.Combine("/xdg", "secateur", "native")]);
        env["XDG_CACHE_HOME"] = "relative/ignored";
        NativeLibraries.CacheRoots(Lookup).ShouldBe([Path.Combine("/home/u", ".cache", "secateur", "native")]);
    }

    [Fact]
    public void WritePatchedCopy_WritesReusesAndRepairs()
    {
        var directory = Path.Combine(scratch, "abc");
        byte[] content = [1, 2, 3, 4];

        var path = NativeLibraries.WritePatchedCopy(content, directory);
        File.ReadAllBytes(path).ShouldBe(content);
        var written = File.GetLastWriteTimeUtc(path);
        File.SetLastWriteTimeUtc(path, written.AddHours(-1));

        NativeLibraries.WritePatchedCopy(content, directory).ShouldBe(path);
        File.GetLastWriteTimeUtc(path).ShouldBe(written.AddHours(-1)); // matching content is reused, not rewritten

        File.WriteAllBytes(path, [9, 9]);
        NativeLibraries.WritePatchedCopy(content, directory);
        File.ReadAllBytes(path).ShouldBe(content); // a damaged copy is replaced
        Directory.GetFiles(directory).ShouldBe([path]); // no temporary files left behind
    }

    [SkippableFact]
    public void PatchedCopy_OfTheRealLibrary_IsAValidElfWithTheSameNeeds()
    {
        var path = ElfVersionPatcherTests.RequireRealLibraryPath();
        var elf = File.ReadAllBytes(path);

        var copy = NativeLibraries.WritePatchedCopy(ElfVersionPatcher.MarkWeak(elf, "GLIBCXX_3.4.32"), scratch);

        var reread = File.ReadAllBytes(copy);
        ElfVersionPatcher.ReadNeededLibraries(reread).ShouldBe(ElfVersionPatcher.ReadNeededLibraries(elf));
        ElfVersionPatcher.ReadVersionNeeds(reread).Single(n => n.Version == "GLIBCXX_3.4.32").IsWeak.ShouldBeTrue();
    }

    [SkippableFact]
    public void LoaderMessage_KeepsOnlyTheDynamicLoadersLine()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "needs Linux (/proc/self/maps, the glibc dynamic loader)");
        var bogus = Path.Combine(scratch, "libBogus.so");
        File.WriteAllBytes(bogus, [1, 2, 3]);

        var ex = Should.Throw<DllNotFoundException>(() => System.Runtime.InteropServices.NativeLibrary.Load(bogus));

        var message = NativeLibraries.LoaderMessage(ex);
        message.ShouldStartWith(bogus + ":"); // dlerror() format: "<path>: <reason>"
        message.ShouldNotContain("LD_DEBUG");
    }
}
