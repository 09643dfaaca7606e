using System.Text.Json;
using Secateur.Reporting;
using Secateur.Tests.Cli;
using Secateur.Tests.Data;
using Secateur.Training;
using StbImageWriteSharp;

namespace Secateur.Tests.Reporting;

/// <summary>Issue 18, items 8 and 10: counts agree with their nouns, times never read "0 s", one precision per column, no top-5 that cannot be below 100 %.</summary>
public sealed class NumberTextTests
{
    [Theory]
    [InlineData(1, "1 epoch")]
    [InlineData(2, "2 epochs")]
    [InlineData(0, "0 epochs")]
    [InlineData(1000, "1,000 epochs")]
    public void Counts_take_their_plural_only_when_not_one(long n, string expected) => Wording.Count(n, "epoch").ShouldBe(expected);

    [Theory]
    [InlineData(0.06, "60 ms")]
    [InlineData(0.0042, "4.2 ms")]
    [InlineData(3.44, "3.4 s")]
    [InlineData(754.4, "754 s")]
    public void Sub_second_times_read_in_milliseconds(double seconds, string expected) => Wording.Duration(seconds).ShouldBe(expected);

    [Theory]
    [InlineData(new[] { 0.176, 25.3 }, "0.000")]
    [InlineData(new[] { 25.3, 310.0 }, "0.0")]
    [InlineData(new[] { 2.5, 40.0 }, "0.00")]
    [InlineData(new[] { 120.0, 4000.0 }, "0")]
    public void A_column_gets_one_format_from_its_smallest_value(double[] values, string expected) => Wording.Format(values).ShouldBe(expected);

    [Fact]
    public void A_report_row_shows_before_and_after_with_one_precision()
    {
        var report = new RunReport
        {
            Kind = "prune",
            Model = "m",
            Summary = [new Measure("ORT p50 latency", 0.29, 0.176, "ms"), new Measure("params", 1000, 500)],
        };
        var md = ReportWriter.Markdown(report);
        md.ShouldContain("| ORT p50 latency | 0.290 ms | 0.176 ms |"); // was 0.29 beside 0.176
        md.ShouldContain("| params | 1,000 | 500 |");
        ReportWriter.Html(report).ShouldContain("<td>0.290 ms</td><td>0.176 ms</td>");
    }

    [Fact]
    public void Evaluation_with_five_or_fewer_classes_has_no_top5()
    {
        new EvaluationResult(0.1, 0.9, 1.0, 10).ForClasses(5).Top5.ShouldBeNull();
        new EvaluationResult(0.1, 0.9, 0.95, 10).ForClasses(6).Top5.ShouldBe(0.95);
    }

    [Fact]
    [Trait("Category", TestCategories.Cli)]
    [Trait("Category", TestCategories.Slow)]
    public void Three_classes_report_no_top5_in_text_json_or_report()
    {
        using var dir = new TempDir();
        var root = Path.Combine(dir.Path, "three");
        WriteFolder(root, ["cat", "dog", "fox"], train: 6, test: 2);
        var model = Path.Combine(dir.Path, "t.onnx");
        var (code, stdout, stderr) = CliTests.Run("train", "lenet5", "--data", "folder:" + root, "--epochs", "1", "--batch-size", "8", "-o", model);
        code.ShouldBe(0, stderr);
        (stdout + stderr).ShouldNotContain("top-5");
        (code, stdout, stderr) = CliTests.Run("train", "lenet5", "--data", "folder:" + root, "--epochs", "1", "--batch-size", "8", "-o", model + ".2.onnx", "--json");
        code.ShouldBe(0, stderr);
        Has(stdout, "top5").ShouldBeFalse();
        var trainJson = Path.Combine(dir.Path, "train.json");
        File.WriteAllText(trainJson, stdout);

        (code, stdout, stderr) = CliTests.Run("eval", model, "--data", "folder:" + root);
        code.ShouldBe(0, stderr);
        stdout.ShouldContain("(6 images)");
        stdout.ShouldNotContain("top-5");
        (code, stdout, stderr) = CliTests.Run("eval", model, "--data", "folder:" + root, "--json");
        code.ShouldBe(0, stderr);
        Has(stdout, "top5").ShouldBeFalse();
        var evalJson = Path.Combine(dir.Path, "eval.json");
        File.WriteAllText(evalJson, stdout);

        foreach (var json in new[] { trainJson, evalJson })
        {
            var md = Path.ChangeExtension(json, ".md");
            var printed = File.ReadAllText(json);
            (code, _, stderr) = CliTests.Run("report", json, "-o", md);
            code.ShouldBe(0, stderr);
            File.ReadAllText(md).ShouldNotContain("top-5");
            File.ReadAllText(json).ShouldBe(printed); // the companion .json would be this very file: not written over
        }

        // One image is one image.
        (code, stdout, stderr) = CliTests.Run("eval", model, "--data", "folder:" + root, "--test-limit", "1");
        code.ShouldBe(0, stderr);
        stdout.ShouldContain("(1 image)");
    }

    private static bool Has(string json, string name)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty(name, out _);
    }

    /// <summary>An image folder (train/ and test/, one folder per class) of 28×28 grey PNGs, each class its own brightness.</summary>
    private static void WriteFolder(string root, string[] classes, int train, int test)
    {
        var random = new Random(0);
        foreach (var (split, count) in new[] { ("train", train), ("test", test) })
            for (int c = 0; c < classes.Length; c++)
                for (int i = 0; i < count; i++)
                {
                    var pixels = new byte[28 * 28];
                    for (int p = 0; p < pixels.Length; p++) pixels[p] = (byte)Math.Clamp(60 * c + random.Next(40), 0, 255);
                    var path = Path.Combine(root, split, classes[c], $"{i}.png");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    using var stream = File.Create(path);
                    new ImageWriter().WritePng(pixels, 28, 28, ColorComponents.Grey, stream);
                }
    }
}
