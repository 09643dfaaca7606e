using System.Diagnostics;
using System.Text.RegularExpressions;
using Secateur.Reporting;
using Secateur.Tests.Cli;

namespace Secateur.Tests.Reporting;

public sealed class ReportTests
{
    private static RunReport Full() => new()
    {
        Kind = "prune",
        Model = "net<1>",
        Command = "secateur prune net.onnx --speedup 2 --report r.html",
        Created = new DateTimeOffset(2026, 11, 29, 8, 0, 0, TimeSpan.Zero),
        Summary = [new Measure("params", 1000, 400), new Measure("MACs", 5_000_000, 2_400_000), new Measure("ORT p50 latency, batch 1", 2.5, 1.25, "ms")],
        Accuracy = [new AccuracyStage("before pruning", 0.92), new AccuracyStage("right after pruning", 0.81), new AccuracyStage("after fine-tuning", 0.915)],
        Layers = [new LayerChange("conv1", 16, 8), new LayerChange("layer1.0.conv1", 32, 20), new LayerChange("fc & co", 64, 40)],
        TradeOff = [new TradeOffPoint("dense", 5_000_000, 0.92, Baseline: true), new TradeOffPoint("step 1", 3_500_000, 0.91), new TradeOffPoint("result", 2_400_000, 0.915)],
        SensitivityBaseline = 0.92,
        Sensitivity = [new SensitivityCurve("conv1", 16, [new RatioAccuracy(0.25, 0.91), new RatioAccuracy(0.5, 0.85)]),
                       new SensitivityCurve("layer1.0.conv1", 32, [new RatioAccuracy(0.25, 0.92), new RatioAccuracy(0.5, 0.9)])],
        Training = [new EpochPoint(1, "epoch 1", 0.5, 0.8, 0.85), new EpochPoint(2, "epoch 2", 0.3, 0.9, 0.915)],
        Notes = ["Criterion l1, uniform allocation."],
    };

    private static int Count(string text, string what) => Regex.Matches(text, Regex.Escape(what)).Count;

    // ScottPlot numbers SVG clip paths from a process-wide counter (which keeps the four charts of a page apart).
    private static string SameDrawing(string html) => Regex.Replace(html, "cl_[0-9a-f]+", "cl_");

    [Fact]
    public void Html_is_self_contained_with_every_section_and_its_chart()
    {
        var html = ReportWriter.Html(Full());
        foreach (var id in new[] { "summary", "accuracy", "tradeoff", "layers", "sensitivity", "training", "layer-table", "command" })
            html.ShouldContain($"id=\"{id}\"");
        Count(html, "<svg").ShouldBe(4);
        html.ShouldNotContain("<script");
        // Nothing fetched from anywhere: no links, no sources, no stylesheets (SVG's xmlns URIs are names, not fetches).
        Regex.IsMatch(html, "(src|href)\\s*=\\s*\"(https?:)?//", RegexOptions.IgnoreCase).ShouldBeFalse();
        html.ShouldNotContain("<link");
        html.ShouldContain("net&lt;1&gt;");
        html.ShouldContain("fc &amp; co");
        html.ShouldContain("2.50×"); // params ratio
        html.ShouldContain("92.00 %");
    }

    [Fact]
    public void Sections_without_data_are_left_out()
    {
        var html = ReportWriter.Html(new RunReport { Kind = "sensitivity", Model = "m", Sensitivity = Full().Sensitivity, SensitivityBaseline = 0.9 });
        Count(html, "<svg").ShouldBe(1);
        html.ShouldContain("id=\"sensitivity\"");
        html.ShouldNotContain("id=\"summary\"");
        html.ShouldNotContain("id=\"training\"");
    }

    [Fact]
    public void Markdown_has_the_tables()
    {
        var md = ReportWriter.Markdown(Full());
        md.ShouldContain("| params | 1,000 | 400 | 2.50x |");
        md.ShouldContain("| ORT p50 latency, batch 1 | 2.50 ms | 1.25 ms | 2.00x |");
        md.ShouldContain("| layer1.0.conv1 | 32 | 20 |");
        md.ShouldContain("| right after pruning | 81.00 % |");
        md.ShouldContain("| conv1 | 16 | 91.00 % | 85.00 % |");
        md.ShouldContain("| epoch 2 | 0.3000 | 90.00 % | 91.50 % |");
    }

    [Fact]
    public void Html_report_writes_markdown_and_json_beside_it_and_the_json_reloads()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-report");
        try
        {
            var path = Path.Combine(dir.FullName, "sub", "r.html");
            var written = ReportWriter.Write(Full(), path);
            written.Select(Path.GetFileName).ShouldBe(["r.html", "r.md", "r.json"]);
            var back = ReportWriter.Load(Path.ChangeExtension(path, ".json"));
            ReportWriter.ToJson(back).ShouldBe(ReportWriter.ToJson(Full()));
            SameDrawing(ReportWriter.Html(back)).ShouldBe(SameDrawing(File.ReadAllText(path)));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Unknown_extension_and_bad_json_are_clear_errors()
    {
        Should.Throw<SecateurException>(() => ReportWriter.Write(Full(), "/tmp/r.pdf")).Code.ShouldBe(ErrorCode.BadArgument);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "{ not json");
            var e = Should.Throw<SecateurException>(() => ReportWriter.Load(file));
            e.Code.ShouldBe(ErrorCode.BadFile);
            e.Message.ShouldContain(file);
        }
        finally { File.Delete(file); }
    }

    /// <summary>Chromium from Debian (<c>apt-get install chromium</c>), or null.</summary>
    private static string? Chromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    private static (int Code, string Out, string Err) Browse(string chromium, params string[] args)
    {
        var psi = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("chromium did not finish in 2 minutes"); }
        return (p.ExitCode, output.Result, error.Result);
    }

    [SkippableFact]
    public void A_real_browser_renders_the_page_with_its_charts_and_no_script_errors()
    {
        var chromium = Chromium();
        Skip.If(chromium is null, "Chromium is not installed (apt-get install chromium)");
        var dir = Directory.CreateTempSubdirectory("secateur-browser");
        try
        {
            var page = Path.Combine(dir.FullName, "report.html");
            ReportWriter.Write(Full(), page);
            var shot = Path.Combine(dir.FullName, "shot.png");
            var (code, _, err) = Browse(chromium!, "--window-size=1100,2400", $"--screenshot={shot}", new Uri(page).AbsoluteUri);
            code.ShouldBe(0, err);
            var png = File.ReadAllBytes(shot);
            png.Take(4).ShouldBe(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' });
            png.Length.ShouldBeGreaterThan(30_000, "a page with four charts is not a blank screenshot");
            err.ShouldNotContain("Uncaught");
            err.ShouldNotContain(":CONSOLE(");
            // The DOM the browser built: all four charts parsed as SVG with their drawings inside.
            var (domCode, dom, domErr) = Browse(chromium!, "--dump-dom", new Uri(page).AbsoluteUri);
            domCode.ShouldBe(0, domErr);
            Count(dom, "<svg").ShouldBe(4);
            Count(dom, "<path").ShouldBeGreaterThan(20);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    [Trait("Category", TestCategories.Cli)]
    public void Prune_and_sensitivity_write_html_reports_and_report_re_renders_them()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-report-cli");
        try
        {
            var html = Path.Combine(dir.FullName, "prune.html");
            var (code, _, err) = CliTests.Run("prune", "lenet5", "--data", "embedded", "--train-limit", "256", "--speedup", "2",
                "--finetune-epochs", "1", "--batch-size", "64", "-o", Path.Combine(dir.FullName, "p.onnx"), "--report", html);
            code.ShouldBe(0, err);
            var page = File.ReadAllText(html);
            foreach (var id in new[] { "summary", "accuracy", "tradeoff", "layers", "training", "command" }) page.ShouldContain($"id=\"{id}\"");
            page.ShouldContain("ONNX file size");
            File.ReadAllText(Path.ChangeExtension(html, ".md")).ShouldContain("| conv1 | 6 |");

            var again = Path.Combine(dir.FullName, "again.html");
            (code, _, err) = CliTests.Run("report", Path.ChangeExtension(html, ".json"), "-o", again);
            code.ShouldBe(0, err);
            SameDrawing(File.ReadAllText(again)).ShouldBe(SameDrawing(page));

            var sens = Path.Combine(dir.FullName, "sens.html");
            (code, _, err) = CliTests.Run("sensitivity", "lenet5", "--data", "embedded", "--ratios", "0.5", "--validation-images", "200", "--report", sens, "--json");
            code.ShouldBe(0, err);
            File.ReadAllText(sens).ShouldContain("id=\"sensitivity\"");

            (code, _, err) = CliTests.Run("report", Path.Combine(dir.FullName, "missing.json"));
            code.ShouldBe((int)ErrorCode.BadFile);
        }
        finally { dir.Delete(true); }
    }
}
