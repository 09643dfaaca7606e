using System.Diagnostics;

namespace Secateur.Tests;

/// <summary>Runs Debian's /usr/bin/python3 (with python3-onnx) for the tests that check files with the ONNX checker.</summary>
internal static class Python
{
    /// <summary>Runs <paramref name="script"/> with <paramref name="args"/>; exit code and stdout + stderr.</summary>
    public static (int Code, string Output) Run(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
