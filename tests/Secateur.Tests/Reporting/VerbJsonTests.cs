using System.Globalization;
using System.Text.Json;
using Secateur.Tests.Cli;
using Secateur.Tests.Data;

namespace Secateur.Tests.Reporting;

/// <summary>Every verb's <c>--json</c> output, made once on small data and shared by the tests below.</summary>
public sealed class VerbJsonOutputs : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>The JSON file each verb's stdout was saved to, by verb (bench: against a baseline; bench-alone: without).</summary>
    public Dictionary<string, string> Files { get; } = [];

    public VerbJsonOutputs()
    {
        string At(string name) => _dir.File(name);
        Save("prune", "prune", "lenet5", "--data", "embedded", "--train-limit", "128", "--speedup", "2", "--finetune-epochs", "1", "--batch-size", "64",
            "-o", At("p.onnx"), "--json");
        Save("sparsify", "sparsify", "lenet5", "--sparsity", "0.5", "-o", At("s.onnx"), "--json");
        Save("quantize", "quantize", At("p.onnx"), "--data", "embedded", "--calibration-images", "64", "--test-limit", "100", "--batch", "1", "--runs", "3",
            "--threads", "1", "-o", At("q.onnx"), "--json");
        Save("sensitivity", "sensitivity", "lenet5", "--data", "embedded", "--ratios", "0.5", "--validation-images", "100", "--json");
        Save("eval", "eval", At("p.onnx"), "--data", "embedded", "--test-limit", "100", "--json");
        Save("bench", "bench", At("p.onnx"), "--against", "lenet5", "--batch", "1", "--threads", "1", "--warmup", "1", "--runs", "3", "--json");
        Save("bench-alone", "bench", At("p.onnx"), "--batch", "1,2", "--threads", "1", "--warmup", "1", "--runs", "3", "--json");
        Save("train", "train", "lenet5", "--data", "embedded", "--train-limit", "64", "--epochs", "1", "-o", At("t.onnx"), "--json");
    }

    private void Save(string key, params string[] args)
    {
        var (code, stdout, stderr) = CliTests.Run(args);
        if (code != 0) throw new InvalidOperationException($"{string.Join(' ', args)} exited {code}: {stderr}");
        var file = _dir.File(key + ".json");
        File.WriteAllText(file, stdout);
        Files[key] = file;
    }

    public string Dir => _dir.Path;

    public JsonElement Root(string key)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Files[key]));
        return doc.RootElement.Clone();
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>Issue 18, item 10: one naming scheme across verbs, and <c>secateur report</c> renders what any verb printed.</summary>
[Trait("Category", TestCategories.Cli)]
[Trait("Category", TestCategories.Slow)]
public sealed class VerbJsonTests(VerbJsonOutputs outputs) : IClassFixture<VerbJsonOutputs>
{
    private static readonly string[] Splits = ["trainImages", "validationImages", "calibrationImages", "testImages"];
    private static string P2(double v) => v.ToString("P2", CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("prune", "prune", "testImages")]
    [InlineData("sparsify", "sparsify", null)]
    [InlineData("quantize", "quantize", "calibrationImages", "testImages")]
    [InlineData("sensitivity", "sensitivity", "validationImages")]
    [InlineData("eval", "eval", "testImages")]
    [InlineData("bench", "bench", null)]
    [InlineData("train", "train", "trainImages", "testImages")]
    public void Every_verb_names_its_schema_and_counts_images_by_split(string key, string verb, params string?[] counts)
    {
        var root = outputs.Root(key);
        root.GetProperty("verb").GetString().ShouldBe(verb);
        foreach (var name in (counts ?? []).OfType<string>()) root.GetProperty(name).GetInt64().ShouldBeGreaterThan(0, name);
        // Any image count anywhere is one of the four split names.
        foreach (var name in Names(root).Where(n => n.EndsWith("Images", StringComparison.Ordinal)))
            Splits.ShouldContain(name, $"{key}: '{name}'");
    }

    [Fact]
    public void Drops_are_fractions_like_accuracies_in_every_verb()
    {
        var q = outputs.Root("quantize");
        q.GetProperty("accuracyDrop").GetDouble().ShouldBe(q.GetProperty("floatAccuracy").GetDouble() - q.GetProperty("int8Accuracy").GetDouble(), 1e-12);
        q.GetProperty("accuracyDropPoints").GetDouble().ShouldBe(q.GetProperty("accuracyDrop").GetDouble() * 100, 1e-9); // the documented old name
        var s = outputs.Root("sensitivity");
        double baseline = s.GetProperty("baseline").GetDouble();
        foreach (var p in s.GetProperty("points").EnumerateArray())
            p.GetProperty("drop").GetDouble().ShouldBe(baseline - p.GetProperty("accuracy").GetDouble(), 1e-12);
        outputs.Root("eval").GetProperty("samples").GetInt64().ShouldBe(outputs.Root("eval").GetProperty("testImages").GetInt64()); // the documented old name
    }

    [Theory]
    [InlineData("prune")]
    [InlineData("sparsify")]
    [InlineData("quantize")]
    [InlineData("sensitivity")]
    [InlineData("eval")]
    [InlineData("bench")]
    [InlineData("bench-alone")]
    [InlineData("train")]
    public void Report_renders_the_json_of_every_verb_as_html_and_markdown(string key)
    {
        var root = outputs.Root(key);
        var html = Path.Combine(outputs.Dir, key + "-page.html");
        var md = Path.Combine(outputs.Dir, key + "-only.md");
        var (code, _, err) = CliTests.Run("report", outputs.Files[key], "-o", html);
        code.ShouldBe(0, err);
        (code, _, err) = CliTests.Run("report", outputs.Files[key], "-o", md);
        code.ShouldBe(0, err);
        var page = File.ReadAllText(html);
        var text = File.ReadAllText(md);
        // A figure that only this verb's JSON holds, as the report shows it.
        string expected = key switch
        {
            "prune" => root.GetProperty("macsAfter").GetInt64().ToString("N0", CultureInfo.InvariantCulture),
            "sparsify" => root.GetProperty("nonZeroParams").GetInt64().ToString("N0", CultureInfo.InvariantCulture),
            "quantize" => P2(root.GetProperty("int8Accuracy").GetDouble()),
            "sensitivity" => P2(root.GetProperty("baseline").GetDouble()),
            "eval" => P2(root.GetProperty("accuracy").GetDouble()),
            "bench" => root.GetProperty("results")[0].GetProperty("latencySpeedup").GetDouble().ToString("0.00", CultureInfo.InvariantCulture) + "x",
            "bench-alone" => root.GetProperty("results")[1].GetProperty("model").GetProperty("imagesPerSecond").GetDouble().ToString("0.0", CultureInfo.InvariantCulture),
            _ => P2(root.GetProperty("accuracy").GetDouble()),
        };
        text.ShouldContain(expected);
        page.ShouldContain(System.Net.WebUtility.HtmlEncode(expected));
        page.ShouldContain(System.Net.WebUtility.HtmlEncode(key.StartsWith("bench", StringComparison.Ordinal)
            ? root.GetProperty("model").GetProperty("name").GetString()! : root.GetProperty("model").GetString()!));
        if (key is "quantize")
        {
            var l = root.GetProperty("latency")[0];
            text.ShouldContain(Secateur.Reporting.Wording.Spread(l.GetProperty("speedup").GetDouble(), l.GetProperty("speedupLow").GetDouble(), l.GetProperty("speedupHigh").GetDouble()));
        }
        if (key is "prune" or "train") page.ShouldContain("id=\"training\"");
        if (key is "sensitivity") page.ShouldContain("id=\"sensitivity\"");
        if (key is "prune" or "sparsify") page.ShouldContain("id=\"layers\"");
    }

    [Fact]
    public void Report_names_what_it_reads_when_the_json_is_neither()
    {
        var file = Path.Combine(outputs.Dir, "other.json");
        File.WriteAllText(file, """{ "hello": 1 }""");
        var (code, _, err) = CliTests.Run("report", file, "-o", Path.Combine(outputs.Dir, "other.html"));
        code.ShouldBe((int)ErrorCode.BadFile);
        err.Trim().Split('\n').Length.ShouldBe(1);
        err.ShouldStartWith("error: ");
    }

    private static IEnumerable<string> Names(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Names(p.Value).Prepend(p.Name)),
        JsonValueKind.Array => e.EnumerateArray().SelectMany(Names),
        _ => [],
    };
}
