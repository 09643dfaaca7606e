using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Secateur.Tests.Docs;

/// <summary>
/// The documentation cannot rot: every <c>sh runnable</c> block of README.md and docs/*.md runs against the CLI this
/// build made (the convention is in docs/README.md, "Runnable commands"), and every relative link points to a file and
/// heading that exist.
/// </summary>
public sealed class DocsTests(ITestOutputHelper output)
{
    /// <summary>Repository directories linked into each page's working directory, so that repository paths work as written.</summary>
    private static readonly string[] Linked = ["recipes", "tests", "benchmarks", "scripts", "samples"];

    /// <summary>The pages with at least one runnable block.</summary>
    public static TheoryData<string> RunnablePages()
    {
        var data = new TheoryData<string>();
        foreach (var page in DocPages.All())
            if (DocPages.Blocks(DocPages.Lines(page)).Any(b => b.Runnable)) data.Add(page);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(RunnablePages))]
    [Trait("Category", TestCategories.Slow)]
    [Trait("Category", TestCategories.Cli)]
    public void Every_runnable_command_of_the_page_succeeds(string page)
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "the runnable blocks are bash");
        var root = LibraryWordingTests.RepositoryRoot();
        var dir = Directory.CreateTempSubdirectory("secateur-docs-");
        try
        {
            var bin = Directory.CreateDirectory(Path.Combine(dir.FullName, ".bin")).FullName;
            var cli = Path.Combine(AppContext.BaseDirectory, "Secateur.Cli.dll");
            File.Exists(cli).ShouldBeTrue($"the CLI is not beside the tests: {cli}");
            var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            var wrapper = Path.Combine(bin, "secateur");
            File.WriteAllText(wrapper, $"#!/bin/sh\nexec '{dotnet}' exec '{cli}' \"$@\"\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var name in Linked)
                Directory.CreateSymbolicLink(Path.Combine(dir.FullName, name), Path.Combine(root, name));

            var blocks = DocPages.Blocks(DocPages.Lines(page)).Where(b => b.Runnable).ToList();
            blocks.ShouldNotBeEmpty();
            var clock = Stopwatch.StartNew();
            double cpu = 0;
            foreach (var block in blocks)
            {
                if (block.Before is { } before)
                    cpu += Run(page, block.FenceLine - 1, [before], dir.FullName, bin, hidden: true);
                cpu += Run(page, block.FenceLine, block.Lines, dir.FullName, bin, hidden: false);
            }
            // CPU time says more than wall time on a shared machine: it hardly moves with the load.
            output.WriteLine($"{page}: {blocks.Count} runnable blocks, {blocks.Sum(b => b.Lines.Count)} lines; wall {clock.Elapsed.TotalSeconds:F1} s, "
                + $"CPU {cpu:F1} s (the commands' user + system); load average {LoadAverage()}");
        }
        finally
        {
            // Symbolic links first, so that deleting the directory never follows them into the repository.
            foreach (var name in Linked)
            {
                var link = Path.Combine(dir.FullName, name);
                if (new FileInfo(link).LinkTarget is not null) File.Delete(link);
            }
            try { dir.Delete(recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>
    /// Runs <paramref name="lines"/> as one bash script in <paramref name="workDir"/>. The script's first line is the
    /// shell set-up, so the block's line k is script line k + 1 and page line <paramref name="fenceLine"/> + k.
    /// </summary>
    /// <returns>The CPU seconds (user + system) the block's commands took, from bash's <c>times</c>.</returns>
    private static double Run(string page, int fenceLine, IReadOnlyList<string> lines, string workDir, string bin, bool hidden)
    {
        var script = Path.Combine(workDir, ".block.sh");
        var times = Path.Combine(workDir, ".block.times");
        File.WriteAllText(script, "set -euo pipefail; trap 'echo \"docs-block-failed-at-line $LINENO (exit $?)\" >&2' ERR\n"
            + string.Join("\n", lines) + "\ntimes > .block.times\n");
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.Environment["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        start.Environment.Remove(ChildProcess.Variable);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{page}:{fenceLine}: the block did not finish within 10 minutes");
        }
        process.WaitForExit();
        if (process.ExitCode == 0) return ChildCpuSeconds(File.ReadAllLines(times));

        var err = stderr.Result;
        int pageLine = fenceLine;
        var marker = err.LastIndexOf("docs-block-failed-at-line ", StringComparison.Ordinal);
        if (marker >= 0 && int.TryParse(err[(marker + "docs-block-failed-at-line ".Length)..].Split(' ')[0], out int scriptLine))
            pageLine = hidden ? fenceLine : fenceLine + scriptLine - 1;
        int k = pageLine - fenceLine;
        var command = hidden ? lines[0] : k >= 1 && k <= lines.Count ? lines[k - 1] : "(the block)";
        var message = new StringBuilder()
            .Append(page).Append(':').Append(pageLine).Append(": ").Append(hidden ? "the runnable-before command" : "the command")
            .Append(" failed with exit code ").Append(process.ExitCode).Append(":\n  ").Append(command.Trim())
            .Append("\nstderr:\n").Append(Tail(err)).Append("\nstdout:\n").Append(Tail(stdout.Result));
        throw new Xunit.Sdk.XunitException(message.ToString());
    }

    /// <summary>The second line of bash's <c>times</c> ("0m1.250s 0m0.120s": the children's user and system time), in seconds.</summary>
    internal static double ChildCpuSeconds(string[] times)
    {
        double total = 0;
        foreach (var field in times.Length > 1 ? times[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [])
        {
            var m = field.TrimEnd('s').Split('m');
            if (m.Length == 2 && double.TryParse(m[0], CultureInfo.InvariantCulture, out var min) && double.TryParse(m[1], CultureInfo.InvariantCulture, out var sec))
                total += min * 60 + sec;
        }
        return total;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string Tail(string text, int lines = 40)
    {
        var all = text.TrimEnd().Split('\n');
        return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
    }

    [Fact]
    public void Every_relative_link_points_to_an_existing_file_and_heading()
    {
        var root = LibraryWordingTests.RepositoryRoot();
        var broken = new List<string>();
        int checkedLinks = 0;
        foreach (var page in DocPages.All())
        {
            var pageDir = Path.GetDirectoryName(Path.Combine(root, page))!;
            foreach (var (line, target) in DocPages.Links(DocPages.Lines(page)))
            {
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                checkedLinks++;
                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var file = hash < 0 ? target : target[..hash];
                var anchor = hash < 0 ? null : Uri.UnescapeDataString(target[(hash + 1)..]);
                var path = file.Length == 0 ? Path.Combine(root, page) : Path.GetFullPath(Path.Combine(pageDir, Uri.UnescapeDataString(file)));
                if (!path.StartsWith(root, StringComparison.Ordinal)) { broken.Add($"{page}:{line}: {target} leaves the repository"); continue; }
                if (!File.Exists(path) && !Directory.Exists(path)) { broken.Add($"{page}:{line}: {target}: no such file"); continue; }
                if (anchor is null) continue;
                if (!path.EndsWith(".md", StringComparison.Ordinal) || Directory.Exists(path)) { broken.Add($"{page}:{line}: {target}: an anchor into a file that is not Markdown"); continue; }
                if (!DocPages.Anchors(File.ReadAllText(path).ReplaceLineEndings("\n").Split('\n')).Contains(anchor))
                    broken.Add($"{page}:{line}: {target}: no heading with that anchor");
            }
        }
        checkedLinks.ShouldBeGreaterThan(20);
        broken.ShouldBeEmpty();
    }

    [Fact]
    public void Every_docs_page_is_in_the_index_and_has_a_title()
    {
        var index = string.Join("\n", DocPages.Lines("docs/README.md"));
        foreach (var page in DocPages.All().Where(p => p.StartsWith("docs/", StringComparison.Ordinal) && p != "docs/README.md"))
        {
            index.ShouldContain($"]({Path.GetFileName(page)})", customMessage: $"docs/README.md does not link {page}");
            DocPages.Lines(page)[0].ShouldStartWith("# ", customMessage: $"{page} does not start with a title");
        }
    }

    [Fact]
    public void The_readme_keeps_the_two_set_up_commands_that_ci_and_people_rely_on()
    {
        var lines = DocPages.Lines("README.md");
        var commands = DocPages.Blocks(lines).SelectMany(b => b.Lines).Select(l => l.Trim()).ToList();
        commands.ShouldContain("dotnet run --project src/Secateur.Cli -c Release -- demo");
        commands.ShouldContain("dotnet test tests/Secateur.Tests -c Release");
    }

    [Fact]
    public void The_parser_finds_runnable_blocks_hidden_commands_and_anchors()
    {
        string[] page =
        [
            "# Title", "## `secateur prune` — remove channels", "<!-- runnable-before: secateur demo --epochs 1 -->",
            "```sh runnable", "secateur inspect demo.onnx", "```", "````markdown", "```sh runnable", "not a block", "```", "````",
            "```sh", "secateur train resnet20 --data fashion-mnist", "```", "## Title",
        ];
        var blocks = DocPages.Blocks(page);
        blocks.Count.ShouldBe(3);
        blocks[0].Runnable.ShouldBeTrue();
        blocks[0].FenceLine.ShouldBe(4);
        blocks[0].Lines.ShouldBe(["secateur inspect demo.onnx"]);
        blocks[0].Before.ShouldBe("secateur demo --epochs 1");
        blocks[1].Runnable.ShouldBeFalse(); // the example inside a four-backtick fence is text
        blocks[2].Runnable.ShouldBeFalse();
        DocPages.Anchors(page).ShouldBe(["title", "secateur-prune--remove-channels", "title-1"], ignoreOrder: true);
        DocPages.Slug("Least-squares refit (`--refit`)").ShouldBe("least-squares-refit---refit");
        DocPages.Slug("libtorch on Debian 12 / Ubuntu 22.04").ShouldBe("libtorch-on-debian-12--ubuntu-2204");
        ChildCpuSeconds(["0m0.010s 0m0.002s", "1m2.500s 0m0.250s"]).ShouldBe(62.75, 1e-9);
    }
}
