using System.Diagnostics;
using System.Globalization;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;

namespace Secateur.Tests;

/// <summary>
/// Runs a probe in a fresh <c>dotnet</c> process started on this test assembly. Some properties ("L1 pruning never
/// loads libtorch", "the library leaves glibc's allocator alone unless asked") are about a whole process, and the
/// test host has long since loaded libtorch for other tests; only a new process can show them.
/// </summary>
internal static class ChildProcess
{
    /// <summary>Set in the child: <see cref="TestSetup"/> then does not load libtorch, and <see cref="Main"/> runs a probe.</summary>
    public const string Variable = "SECATEUR_TEST_PROBE";

    /// <summary>Whether this platform lets a probe see which native libraries are mapped.</summary>
    public static bool CanSeeMappedLibraries => OperatingSystem.IsLinux() && File.Exists("/proc/self/maps");

    /// <summary>Runs probe <paramref name="name"/> in a child process; returns its <c>key=value</c> lines in order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Run(string name)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        start.ArgumentList.Add(name);
        start.Environment[Variable] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"probe '{name}' did not finish within two minutes");
        }
        process.ExitCode.ShouldBe(0, $"probe '{name}' failed:\n{stdout}\n{stderr.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).Select(p => KeyValuePair.Create(p[0], p[1])).ToList();
    }

    /// <summary>The probes' entry point (the test runner never calls it; <c>GenerateProgramFile</c> is off for it).</summary>
    public static int Main(string[] args)
    {
        if (Environment.GetEnvironmentVariable(Variable) is null || args.Length != 1)
        {
            Console.Error.WriteLine($"a test probe: run by the tests with {Variable}=1 and one probe name");
            return 2;
        }
        switch (args[0])
        {
            case "managed-criteria":
                // Everything a data-free L1/L2/BN/random prune does: zoo model, dependency graph, scoring, allocation, removal.
                var graph = ModelZoo.Create("resnet20");
                foreach (var criterion in new IImportance[] { new MagnitudeImportance(1), new MagnitudeImportance(2), new BatchNormImportance(), new RandomImportance() })
                {
                    var result = Pruner.Prune(graph, criterion, new PruningOptions { Target = new PruningTarget { Ratio = 0.5 } });
                    Report($"{criterion.Name}.macs", result.After.Macs.ToString(CultureInfo.InvariantCulture));
                }
                Report("after-managed.torch", TorchMapped());
                Report("after-managed.status", NativeLibraries.Status);
                // The control: a tensor criterion must load libtorch, or the probe could not see it at all.
                new FpgmImportance().Score(DependencyGraph.Build(graph), new ImportanceContext());
                Report("after-fpgm.torch", TorchMapped());
                Report("after-fpgm.status", NativeLibraries.Status);
                return 0;
            case "process-tuning":
                NativeLibraries.EnsureTorch();
                Report("loaded.configured", SecateurRuntime.ProcessConfigured);
                Report("loaded.malloc", MallocTuning.Applied);
                Report("configure.returned", SecateurRuntime.ConfigureProcess());
                Report("configured.configured", SecateurRuntime.ProcessConfigured);
                Report("configured.malloc", MallocTuning.Applied);
                return 0;
            case "cli":
                var code = Secateur.Cli.Cli.Run(["inspect", "lenet5"], TextWriter.Null, TextWriter.Null);
                Report("cli.exit", code);
                Report("cli.configured", SecateurRuntime.ProcessConfigured);
                Report("cli.malloc", MallocTuning.Applied);
                return 0;
            default:
                Console.Error.WriteLine($"unknown probe '{args[0]}'");
                return 2;
        }
    }

    private static void Report(string key, object value) =>
        Console.WriteLine(FormattableString.Invariant($"{key}={value}"));

    /// <summary>Whether any libtorch library (libtorch*, libc10, TorchSharp's libLibTorchSharp) is mapped into this process.</summary>
    private static bool TorchMapped() =>
        File.ReadLines("/proc/self/maps").Any(l => l.Contains("/libtorch", StringComparison.Ordinal)
            || l.Contains("/libc10", StringComparison.Ordinal) || l.Contains("LibTorchSharp", StringComparison.Ordinal));

    /// <summary>Whether the user already tuned glibc's allocator (then Secateur leaves it alone and there is nothing of ours to see).</summary>
    public static bool UserTunedMalloc => Environment.GetEnvironmentVariables().Keys.Cast<string>()
        .Any(name => name == "GLIBC_TUNABLES" || name.StartsWith("MALLOC_", StringComparison.Ordinal) || name == MallocTuning.EnvironmentVariable);
}
