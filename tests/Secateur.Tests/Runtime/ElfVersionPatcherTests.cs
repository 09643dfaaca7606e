using System.Buffers.Binary;
using Secateur.Runtime;

namespace Secateur.Tests.Runtime;

public sealed class ElfVersionPatcherTests
{
    private const string Target = "GLIBCXX_3.4.32";

    /// <summary>The real TorchSharp native library copied into the test output, or null where it is not deployed.</summary>
    internal static string? RealLibraryPath() =>
        NativeLibraries.FindInDirectories(NativeLibraries.NativeSearchDirectories(), NativeLibraries.LibTorchSharpFile);

    private static byte[]? RealLibrary() => RealLibraryPath() is { } path ? File.ReadAllBytes(path) : null;

    /// <summary>The real library's path; skips the test (with the reason) where it is not deployed.</summary>
    internal static string RequireRealLibraryPath()
    {
        var path = RealLibraryPath();
        Skip.If(path is null, $"TorchSharp's {NativeLibraries.LibTorchSharpFile} is not in the test output (it ships for Linux only)");
        return path;
    }

    private static byte[] RequireRealLibrary() => File.ReadAllBytes(RequireRealLibraryPath());

    [SkippableFact]
    public void ReadVersionNeeds_RealLibrary_ListsTheGlibcxxRequirements()
    {
        var elf = RequireRealLibrary();

        var needs = ElfVersionPatcher.ReadVersionNeeds(elf);

        // As listed by `readelf -V`: ld-linux 1, libm 1, libgcc_s 1, libc 5, libstdc++ 20.
        needs.Count.ShouldBe(28);
        needs.Count(n => n.File == "libstdc++.so.6").ShouldBe(20);
        needs.Count(n => n.File == "libc.so.6").ShouldBe(5);
        var target = needs.Single(n => n.Version == Target);
        target.File.ShouldBe("libstdc++.so.6");
        target.IsWeak.ShouldBeFalse();
        target.Index.ShouldBe((ushort)18);
        BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(target.FlagsOffset)).ShouldBe(target.Flags);
        needs.ShouldAllBe(n => !n.IsWeak);
    }

    [SkippableFact]
    public void MarkWeak_RealLibrary_ChangesOnlyTheFlagsOfThatRequirement()
    {
        var elf = RequireRealLibrary();
        var before = ElfVersionPatcher.ReadVersionNeeds(elf);
        var flagsOffset = before.Single(n => n.Version == Target).FlagsOffset;

        var patched = ElfVersionPatcher.MarkWeak(elf, Target);

        patched.Length.ShouldBe(elf.Length);
        var differing = Enumerable.Range(0, elf.Length).Where(i => elf[i] != patched[i]).ToList();
        differing.Count.ShouldBeInRange(1, 2);
        differing.ShouldAllBe(i => i == flagsOffset || i == flagsOffset + 1);

        var after = ElfVersionPatcher.ReadVersionNeeds(patched);
        after.Single(n => n.Version == Target).IsWeak.ShouldBeTrue();
        after.Where(n => n.Version != Target).ShouldBe(before.Where(n => n.Version != Target));
    }

    [SkippableFact]
    public void MarkWeak_Twice_IsIdempotentAndLeavesTheInputAlone()
    {
        var elf = RequireRealLibrary();
        var pristine = (byte[])elf.Clone();

        var once = ElfVersionPatcher.MarkWeak(elf, Target);
        var twice = ElfVersionPatcher.MarkWeak(once, Target);

        twice.ShouldBe(once);
        elf.ShouldBe(pristine);
    }

    [SkippableFact]
    public void MarkWeak_VersionNotRequired_Throws()
    {
        var elf = RequireRealLibrary();

        var ex = Should.Throw<SecateurException>(() => ElfVersionPatcher.MarkWeak(elf, "GLIBCXX_9.9.9", "libLibTorchSharp.so"));

        ex.Code.ShouldBe(ErrorCode.NativeLoad);
        ex.Message.ShouldContain("GLIBCXX_9.9.9");
    }

    [SkippableFact]
    public void FindRelocatedSymbols_RealLibrary_TargetIsNominalButOthersAreUsed()
    {
        var elf = RequireRealLibrary();

        // The one symbol versioned GLIBCXX_3.4.32 (_ZSt21ios_base_library_initv) is never relocated, which is what makes weakening safe.
        ElfVersionPatcher.FindRelocatedSymbols(elf, Target).ShouldBeEmpty();
        // Sanity check of the relocation scan itself: the baseline version is used all over.
        ElfVersionPatcher.FindRelocatedSymbols(elf, "GLIBCXX_3.4").ShouldNotBeEmpty();
        ElfVersionPatcher.FindRelocatedSymbols(elf, "GLIBCXX_9.9.9").ShouldBeEmpty();
    }

    [SkippableFact]
    public void ReadNeededLibraries_RealLibrary_ListsTheDynamicDependencies()
    {
        var elf = RequireRealLibrary();

        ElfVersionPatcher.ReadNeededLibraries(elf).ShouldBe(
        [
            "libtorch.so", "libc10.so", "libtorch_cpu.so", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6", "ld-linux-x86-64.so.2",
        ]);
    }

    [SkippableFact]
    public void ReadVersionDefinitions_SystemLibStdCxx_ListsGlibcxxVersions()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "libstdc++ versions are a Linux matter");
        var inspected = NativeLibraries.InspectLibStdCxx();
        Skip.If(inspected is null, "this process's libstdc++ could not be located (no /proc/self/maps?)");
        var libStdCxx = inspected.Value;

        var definitions = ElfVersionPatcher.ReadVersionDefinitions(File.ReadAllBytes(libStdCxx.Path), libStdCxx.Path);

        definitions.ShouldContain("GLIBCXX_3.4");
        definitions.ShouldContain("CXXABI_1.3");
        definitions.ShouldNotContain("libstdc++.so.6"); // the base entry names the file, not a version
        definitions.ShouldBe(libStdCxx.Definitions, ignoreOrder: true);
    }

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(4096)]
    [InlineData(-2)] // half
    [InlineData(-1)] // all but the last byte
    public void Truncated_ThrowsNamingTheFile(int length)
    {
        var elf = RequireRealLibrary();
        var cut = length switch { -2 => elf.Length / 2, -1 => elf.Length - 1, _ => length };

        var ex = Should.Throw<SecateurException>(() => ElfVersionPatcher.ReadVersionNeeds(elf[..cut], "/some/dir/libTruncated.so"));

        ex.Code.ShouldBe(ErrorCode.NativeLoad);
        ex.Message.ShouldContain("/some/dir/libTruncated.so");
    }

    [Fact]
    public void Garbage_ThrowsNamingTheFile()
    {
        var garbage = new byte[4096];
        new Random(42).NextBytes(garbage);

        var ex = Should.Throw<SecateurException>(() => ElfVersionPatcher.MarkWeak(garbage, Target, "garbage.so"));

        ex.Message.ShouldContain("garbage.so");
        ex.Message.ShouldContain("magic");
    }

    [Theory]
    [InlineData(4, 1, "64-bit")]
    [InlineData(5, 2, "little-endian")]
    public void WrongClassOrEndianness_Throws(int index, byte value, string expected)
    {
        var header = new byte[64];
        header[0] = 0x7f;
        header[1] = (byte)'E';
        header[2] = (byte)'L';
        header[3] = (byte)'F';
        header[4] = 2;
        header[5] = 1;
        header[index] = value;

        Should.Throw<SecateurException>(() => ElfVersionPatcher.ReadVersionNeeds(header, "x.so")).Message.ShouldContain(expected);
    }

    [SkippableFact]
    public void CorruptAuxPointer_ThrowsInsteadOfReadingOutOfBounds()
    {
        var elf = RequireRealLibrary();
        // The first Vernaux sits 16 bytes after the first Verneed, whose vn_aux (offset 8) says so.
        var firstAuxFlags = ElfVersionPatcher.ReadVersionNeeds(elf)[0].FlagsOffset;
        var verneed = firstAuxFlags - 4 - 16;
        BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(verneed + 8)).ShouldBe(16u);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(verneed + 8), 0x7fff0000);

        var ex = Should.Throw<SecateurException>(() => ElfVersionPatcher.ReadVersionNeeds(elf, "corrupt.so"));

        ex.Message.ShouldContain("corrupt.so");
        ex.Message.ShouldContain("Vernaux");
    }
}
