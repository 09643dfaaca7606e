using System.Diagnostics;

namespace Secateur.Tests.Interop;

/// <summary>Debian's /usr/bin/python3 with PyTorch (python3-torch), for the PyTorch hand-off tests; they skip without it.</summary>
internal static class TorchPython
{
    private static readonly Lazy<bool> Present = new(() => File.Exists("/usr/bin/python3") && Python.Run("import torch").Code == 0);

    /// <summary>True when /usr/bin/python3 imports torch.</summary>
    public static bool Available => Present.Value;

    /// <summary>Why the hand-off tests skip.</summary>
    public const string Missing = "/usr/bin/python3 with PyTorch (Debian python3-torch) is not available";

    /// <summary>Runs python3 with <paramref name="args"/> (a script path or <c>-m module</c> first); exit code and stdout + stderr.</summary>
    public static (int Code, string Output) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // One thread per process: the tests share two cores with the rest of the suite.
        psi.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var kv in environment ?? new Dictionary<string, string>()) psi.Environment[kv.Key] = kv.Value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 {string.Join(' ', args)} did not finish in time:\n{stdout.Result}\n{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
