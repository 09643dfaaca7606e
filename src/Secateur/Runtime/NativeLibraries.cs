using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using TorchSharp;

namespace Secateur.Runtime;

/// <summary>What <see cref="NativeLibraries.EnsureTorch"/> had to do to make TorchSharp's native library loadable.</summary>
public enum NativeFixStatus
{
    /// <summary><see cref="NativeLibraries.EnsureTorch"/> has not completed yet.</summary>
    NotChecked,
    /// <summary>Not running on Linux, where the libstdc++ version problem does not arise; TorchSharp loaded as shipped.</summary>
    NotLinux,
    /// <summary>The system's libstdc++ provides every version TorchSharp's native library requires; it loaded as shipped.</summary>
    NotNeeded,
    /// <summary>A private copy of <c>libLibTorchSharp.so</c> with nominal-only libstdc++ version requirements marked weak was loaded instead.</summary>
    Patched,
    /// <summary><c>libLibTorchSharp.so</c> was not found on disk (unusual deployment); loading was left to TorchSharp.</summary>
    NotLocated,
    /// <summary>The process's libstdc++ could not be inspected (e.g. no <c>/proc</c>); loading was left to TorchSharp.</summary>
    Undetermined,
}

/// <summary>
/// Makes TorchSharp's native libraries loadable before any torch call. TorchSharp 0.107's <c>libLibTorchSharp.so</c>
/// is built against GCC 13 and so requires <c>GLIBCXX_3.4.32</c> from libstdc++, which older distributions
/// (e.g. Debian 12) lack, although it only names that version for a symbol no relocation uses. Where the running
/// system's libstdc++ lacks a required version, <see cref="EnsureTorch"/> loads a private copy of the library in which
/// those requirements are marked weak; where it is new enough, it changes nothing.
/// </summary>
/// <remarks>
/// The patched copy is cached in <c>$SECATEUR_NATIVE_CACHE</c> if that environment variable is set (it replaces the
/// default location), otherwise in <c>$XDG_CACHE_HOME/secateur/native</c> or <c>~/.cache/secateur/native</c>, in a
/// subdirectory named after the original library's SHA-256 so that a TorchSharp upgrade never reuses a stale copy.
/// If that directory is unusable (read-only home, <c>noexec</c> mount) a fresh private directory under the temporary
/// path is used for the current process and removed once the library is mapped.
/// </remarks>
public static partial class NativeLibraries
{
    /// <summary>The environment variable that, when set, names the directory the patched library copy is cached in.</summary>
    public const string CacheEnvironmentVariable = "SECATEUR_NATIVE_CACHE";

    internal const string LibTorchSharpFile = "libLibTorchSharp.so";
    internal const string LibStdCxxSoname = "libstdc++.so.6";

    private static readonly Lock Gate = new();
    private static volatile bool ready;
    private static ExceptionDispatchInfo? failure;
    private static volatile NativeFixStatus status = NativeFixStatus.NotChecked;
    private static string? patchedLibraryPath;
    private static IReadOnlyList<string> weakenedVersions = [];

    /// <summary>What the first successful <see cref="EnsureTorch"/> call did (for diagnostics and tests).</summary>
    public static NativeFixStatus Status => status;

    /// <summary>
    /// The path the patched <c>libLibTorchSharp.so</c> was loaded from when <see cref="Status"/> is
    /// <see cref="NativeFixStatus.Patched"/>, else <see langword="null"/>. A temporary-directory copy is deleted after
    /// loading, so the path may no longer exist.
    /// </summary>
    public static string? PatchedLibraryPath => patchedLibraryPath;

    /// <summary>The libstdc++ version requirements that were marked weak (empty unless <see cref="Status"/> is <see cref="NativeFixStatus.Patched"/>).</summary>
    public static IReadOnlyList<string> WeakenedVersions => weakenedVersions;

    /// <summary>
    /// Makes sure TorchSharp's native backend is loaded and initialised for the CPU, working around a too-old system
    /// libstdc++ if needed. Call it before any use of <c>TorchSharp.torch</c>: TorchSharp loads its native library in
    /// that type's static initializer, and a failure there cannot be retried within the process. It is thread-safe and
    /// idempotent; after the first call it costs one volatile read. On success it writes nothing to the console.
    /// </summary>
    /// <remarks>
    /// This part stays automatic (every tensor-using entry point calls it) because without it libtorch does not load at
    /// all on systems such as Debian 12. It changes nothing else about the process: allocator tuning is opt-in through
    /// <see cref="SecateurRuntime.ConfigureProcess"/>.
    /// </remarks>
    /// <exception cref="SecateurException">
    /// With <see cref="ErrorCode.NativeLoad"/> when the native library cannot be loaded or initialised; the message
    /// says what failed and how to fix it. A failure is remembered: later calls throw it again.
    /// </exception>
    public static void EnsureTorch()
    {
        if (ready)
            return;
        lock (Gate)
        {
            if (ready)
                return;
            // Loading is not retried: a half-done attempt (libraries mapped, resolver registered) cannot be undone.
            failure?.Throw();
            try
            {
                Run();
                ready = true;
            }
            catch (Exception ex)
            {
                var error = ex as SecateurException ?? new SecateurException(ErrorCode.NativeLoad,
                    $"Secateur could not prepare TorchSharp's native library: {ex.Message}", ex);
                failure = ExceptionDispatchInfo.Capture(error);
                if (ReferenceEquals(error, ex))
                    throw;
                throw error;
            }
        }
    }

    private static void Run()
    {
        // Only what loading needs happens here; process-wide tuning (glibc's allocator) is the application's choice,
        // made through SecateurRuntime.ConfigureProcess (the CLI makes it at start-up).
        if (!OperatingSystem.IsLinux())
        {
            InitialiseTorch(NativeFixStatus.NotLinux, null);
            return;
        }

        var searchDirectories = NativeSearchDirectories();
        var original = FindInDirectories(searchDirectories, LibTorchSharpFile);
        if (original is null)
        {
            InitialiseTorch(NativeFixStatus.NotLocated, null);
            return;
        }

        var elf = ReadLibrary(original);
        var libStdCxx = InspectLibStdCxx();
        if (libStdCxx is null)
        {
            InitialiseTorch(NativeFixStatus.Undetermined, original);
            return;
        }

        var missing = MissingLibStdCxxVersions(elf, libStdCxx.Value.Definitions, original);
        if (missing.Count == 0)
        {
            InitialiseTorch(NativeFixStatus.NotNeeded, original);
            return;
        }

        var patched = Patch(elf, missing, original, libStdCxx.Value.Path);
        PreloadDependencies(elf, original, searchDirectories);
        var (handle, path) = LoadPatchedCopy(patched, elf, missing, original);

        try
        {
            // DllImports of TorchSharp name "LibTorchSharp"; route them to the copy. TorchSharp's own probe for the
            // library then finds the copy too, because dlopen matches the bare name to the loaded copy's SONAME.
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly,
                (name, _, _) => name == "LibTorchSharp" ? handle : IntPtr.Zero);
        }
        catch (InvalidOperationException ex)
        {
            throw new SecateurException(ErrorCode.NativeLoad,
                $"Secateur needs to redirect TorchSharp to a patched copy of {LibTorchSharpFile} (the system's libstdc++ lacks " +
                $"{string.Join(", ", missing)}), but another component has already registered a native library resolver for TorchSharp. " +
                $"Call {nameof(NativeLibraries)}.{nameof(EnsureTorch)}() before that component, or install a newer libstdc++ (from GCC 13 or later).", ex);
        }

        patchedLibraryPath = path;
        weakenedVersions = missing;
        InitialiseTorch(NativeFixStatus.Patched, null);
    }

    /// <summary>Forces TorchSharp to load and initialise libtorch, turning any failure into a <see cref="SecateurException"/>.</summary>
    /// <param name="outcome">The status to record on success.</param>
    /// <param name="unpatched">The unpatched library TorchSharp loads itself, if known, to report the loader's own error.</param>
    private static void InitialiseTorch(NativeFixStatus outcome, string? unpatched)
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception ex)
        {
            // TorchSharp loads from torch's static initializer; the wrapper exception's message says nothing useful.
            var cause = ex is TypeInitializationException { InnerException: { } inner } ? inner : ex;
            // Its messages also carry a long load trace: the first line is what the user needs, the rest stays in InnerException.
            var firstLine = cause.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .FirstOrDefault()?.TrimEnd('.') ?? cause.GetType().Name;
            var detail = outcome == NativeFixStatus.Patched
                ? $" Secateur had loaded a patched copy of {LibTorchSharpFile} from {patchedLibraryPath} (weakening {string.Join(", ", weakenedVersions)})."
                : LoaderError(unpatched) is { } loaderError ? $" The dynamic loader reports: {loaderError}." : string.Empty;
            throw new SecateurException(ErrorCode.NativeLoad,
                $"TorchSharp's native library (libtorch) could not be loaded or initialised: {firstLine}.{detail} " +
                "Check that the TorchSharp-cpu native files (runtimes/<rid>/native) were deployed with the application and that the system's " +
                "C/C++ runtime libraries are recent enough (glibc 2.34 or later, libstdc++ from GCC 12 or later).", cause);
        }

        status = outcome;
    }

    /// <summary>
    /// The dynamic loader's own complaint about <paramref name="path"/> (e.g. a missing symbol version), which
    /// TorchSharp's message omits; <see langword="null"/> if there is no path or it loads.
    /// </summary>
    private static string? LoaderError(string? path)
    {
        if (path is null)
            return null;
        try
        {
            NativeLibrary.Load(path);
            return null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
        {
            return LoaderMessage(ex);
        }
    }

    /// <summary>
    /// The dynamic loader's text from a load failure. .NET wraps <c>dlerror()</c> in several sentences of generic advice;
    /// the loader's own line (e.g. <c>version `GLIBCXX_3.4.32' not found</c>) comes last.
    /// </summary>
    internal static string LoaderMessage(Exception ex) =>
        (ex.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? ex.GetType().Name)
            .TrimEnd('.', ' ');

    /// <summary>The directories the runtime probes for native libraries, then where TorchSharp's own package layout puts them.</summary>
    internal static IReadOnlyList<string> NativeSearchDirectories()
    {
        var result = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string probe)
            result.AddRange(probe.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var rid = $"linux-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        // Assembly.Location is empty in single-file deployments; AppContext.BaseDirectory still points at the app.
        foreach (var baseDirectory in new[] { Path.GetDirectoryName(typeof(torch).Assembly.Location), AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(baseDirectory))
                continue;
            result.Add(baseDirectory);
            result.Add(Path.Combine(baseDirectory, "runtimes", rid, "native"));
            if (rid != "linux-x64")
                result.Add(Path.Combine(baseDirectory, "runtimes", "linux-x64", "native"));
        }

        return result.Select(d => Path.GetFullPath(d)).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The first directory (in probing order) holding <paramref name="fileName"/>, as a full path, or <see langword="null"/>.</summary>
    internal static string? FindInDirectories(IEnumerable<string> directories, string fileName) =>
        directories.Select(d => Path.Combine(d, fileName)).FirstOrDefault(File.Exists);

    /// <summary>The non-weak libstdc++ version requirements of <paramref name="elf"/> that <paramref name="defined"/> lacks, in file order.</summary>
    internal static IReadOnlyList<string> MissingLibStdCxxVersions(byte[] elf, IReadOnlySet<string> defined, string fileName) =>
        ElfVersionPatcher.ReadVersionNeeds(elf, fileName)
            .Where(n => n.File == LibStdCxxSoname && !n.IsWeak && !defined.Contains(n.Version))
            .Select(n => n.Version)
            .Distinct(StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Finds the libstdc++ the dynamic loader binds to in this process (loading it by SONAME, exactly as the loader
    /// would for <c>libLibTorchSharp.so</c>) and reads the versions it defines. <see langword="null"/> when that is not possible.
    /// </summary>
    internal static (string Path, IReadOnlySet<string> Definitions)? InspectLibStdCxx()
    {
        if (!NativeLibrary.TryLoad(LibStdCxxSoname, out var handle))
            return null;
        // Any function only libstdc++ defines will do; its address tells us which mapped file is the loaded libstdc++.
        if (!NativeLibrary.TryGetExport(handle, "_ZSt9terminatev", out var address))
            return null;
        var path = MappedFileContaining(address);
        if (path is null || !File.Exists(path))
            return null;
        try
        {
            return (path, ElfVersionPatcher.ReadVersionDefinitions(File.ReadAllBytes(path), path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SecateurException)
        {
            return null;
        }
    }

    /// <summary>The file mapped at <paramref name="address"/> according to <c>/proc/self/maps</c>, or <see langword="null"/>.</summary>
    internal static string? MappedFileContaining(IntPtr address)
    {
        var target = (ulong)address;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var match = MapsLine().Match(line);
                if (!match.Success)
                    continue;
                var start = Convert.ToUInt64(match.Groups[1].Value, 16);
                var end = Convert.ToUInt64(match.Groups[2].Value, 16);
                if (target >= start && target < end)
                    return match.Groups[3].Value.Length > 0 ? match.Groups[3].Value : null;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No /proc (some sandboxes): the caller reports Undetermined and leaves loading to TorchSharp.
        }

        return null;
    }

    [GeneratedRegex(@"^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$")]
    private static partial Regex MapsLine();

    private static byte[] ReadLibrary(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.NativeLoad, $"TorchSharp's native library {path} could not be read: {ex.Message}", ex);
        }
    }

    private static byte[] Patch(byte[] elf, IReadOnlyList<string> missing, string original, string libStdCxxPath)
    {
        foreach (var version in missing)
        {
            var used = ElfVersionPatcher.FindRelocatedSymbols(elf, version, original);
            if (used.Count > 0)
            {
                // Weakening would only defer the failure to the first call of one of these symbols, killing the process.
                throw new SecateurException(ErrorCode.NativeLoad,
                    $"TorchSharp's native library {original} requires {version} from libstdc++, which this system's {libStdCxxPath} does not provide, " +
                    $"and it really uses symbols of that version ({string.Join(", ", used.Take(3))}{(used.Count > 3 ? ", ..." : "")}), so Secateur cannot work around it. " +
                    "Install a libstdc++ from GCC 13 or later (e.g. use Debian 13 or Ubuntu 24.04, or put a newer libstdc++.so.6 on LD_LIBRARY_PATH), " +
                    "or use a TorchSharp build compiled against your system's libstdc++.");
            }
        }

        var patched = elf;
        foreach (var version in missing)
            patched = ElfVersionPatcher.MarkWeak(patched, version, original);
        return patched;
    }

    /// <summary>
    /// Loads the libraries <c>libLibTorchSharp.so</c> links against from the directories TorchSharp itself would use, so
    /// that the copy (whose <c>$ORIGIN</c> run path is the cache directory) binds to them by SONAME. Loading them from
    /// anywhere else would map a second libtorch_cpu, which aborts on duplicate operator registration.
    /// </summary>
    private static void PreloadDependencies(byte[] elf, string original, IReadOnlyList<string> searchDirectories)
    {
        // The original's own directory wins, as its $ORIGIN run path would make it win for the unpatched library.
        var directories = new[] { Path.GetDirectoryName(original)! }.Concat(searchDirectories).ToList();
        // Reverse order loads the lower-level libraries (libtorch_cpu, libc10) before libtorch, which needs them.
        foreach (var needed in ElfVersionPatcher.ReadNeededLibraries(elf, original).Reverse())
        {
            var path = FindInDirectories(directories, needed);
            if (path is null)
                continue; // a system library (libc, libstdc++, ...) that the loader finds by itself
            try
            {
                NativeLibrary.Load(path);
            }
            catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
            {
                throw new SecateurException(ErrorCode.NativeLoad,
                    $"The libtorch library {path}, which TorchSharp needs, could not be loaded: {LoaderMessage(ex)}.", ex);
            }
        }
    }

    /// <summary>Writes the patched bytes to the first usable cache directory and loads them; returns the handle and path.</summary>
    private static (IntPtr Handle, string Path) LoadPatchedCopy(byte[] patched, byte[] original, IReadOnlyList<string> missing, string originalPath)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(original))[..16];
        var problems = new List<string>();
        foreach (var root in CacheRoots(Environment.GetEnvironmentVariable))
        {
            var path = default(string);
            try
            {
                path = WritePatchedCopy(patched, Path.Combine(root, key));
                return (NativeLibrary.Load(path), path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or BadImageFormatException)
            {
                problems.Add(ex is IOException or UnauthorizedAccessException ? $"{path ?? root}: {ex.Message.TrimEnd('.')}" : LoaderMessage(ex));
            }
        }

        var temporary = default(DirectoryInfo);
        try
        {
            // A fresh 0700 directory: never reuse a file in a shared temporary directory someone else could have planted.
            temporary = Directory.CreateTempSubdirectory("secateur-native-");
            var path = WritePatchedCopy(patched, temporary.FullName);
            return (NativeLibrary.Load(path), path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or BadImageFormatException)
        {
            problems.Add(ex is IOException or UnauthorizedAccessException ? $"{Path.GetTempPath()}: {ex.Message.TrimEnd('.')}" : LoaderMessage(ex));
        }
        finally
        {
            // Once mapped (or failed) the file is no longer needed; removing it avoids leaving megabytes behind on every run.
            if (temporary is not null)
                TryDelete(temporary.FullName);
        }

        throw new SecateurException(ErrorCode.NativeLoad,
            $"TorchSharp's native library {originalPath} requires {string.Join(", ", missing)} from libstdc++, which this system lacks, and Secateur " +
            $"could not load the patched copy it makes to work around that ({string.Join("; ", problems)}). If the cache directory is the problem, set " +
            $"{CacheEnvironmentVariable} to a writable directory on a filesystem that allows executable mappings; otherwise install a libstdc++ from " +
            "GCC 13 or later (e.g. Debian 13 or Ubuntu 24.04), or put one on LD_LIBRARY_PATH.");
    }

    /// <summary>
    /// The persistent cache directories to try, in order: only <c>$SECATEUR_NATIVE_CACHE</c> when set (the user chose
    /// it), otherwise <c>$XDG_CACHE_HOME/secateur/native</c> or <c>$HOME/.cache/secateur/native</c>.
    /// </summary>
    internal static IReadOnlyList<string> CacheRoots(Func<string, string?> environment)
    {
        var chosen = environment(CacheEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(chosen))
            return [Path.GetFullPath(chosen)];

        // The XDG spec says relative values are invalid and must be ignored.
        var xdg = environment("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg))
            return [Path.Combine(xdg, "secateur", "native")];

        var home = environment("HOME");
        if (string.IsNullOrWhiteSpace(home))
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrWhiteSpace(home) ? [] : [Path.Combine(home, ".cache", "secateur", "native")];
    }

    /// <summary>
    /// Makes <paramref name="directory"/>/libLibTorchSharp.so hold exactly <paramref name="content"/>, reusing a matching
    /// file and otherwise writing a temporary file and renaming it into place, so that concurrent processes never see
    /// (or map) a partly written library.
    /// </summary>
    internal static string WritePatchedCopy(byte[] content, string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, LibTorchSharpFile);
        if (File.Exists(path) && new FileInfo(path).Length == content.Length && File.ReadAllBytes(path).AsSpan().SequenceEqual(content))
            return path;

        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
            return path;
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only litter is left behind; the library is already mapped.
        }
    }
}
