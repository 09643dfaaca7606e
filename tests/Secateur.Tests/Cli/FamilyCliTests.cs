using System.Text.Json;
using Secateur.Deployment;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Tests.Onnx;

namespace Secateur.Tests.Cli;

/// <summary>
/// Every model family of the ONNX coverage fixtures (issue 12's "done when") through the command line, in process:
/// <c>inspect</c>, <c>prune --dry-run</c>, <c>prune</c> (2× fewer MACs and ratio 0 where the model is prunable; where
/// it is not, ratio 0 is refused in one line and the dry run gives every group's reason), <c>export</c> and
/// <c>bench</c> each succeed with the output they document, and the files written run in ONNX Runtime.
/// </summary>
[Trait("Category", TestCategories.Cli)]
public sealed class FamilyCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-family-cli-");

    /// <inheritdoc/>
    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>One fixture per family (the name before the first dot), the first the coverage tests support.</summary>
    public static TheoryData<string> Families() => new(FamilyFiles());

    private static IEnumerable<string> FamilyFiles() =>
        CoverageFixtureTests.Supported.GroupBy(f => f.Split('.')[0], StringComparer.Ordinal).Select(g => g.First());

    [Fact]
    public void Every_family_is_covered()
    {
        var families = FamilyFiles().Select(f => f.Split('.')[0]).ToList();
        families.ShouldBe(CoverageFixtureTests.Supported.Select(f => f.Split('.')[0]).Distinct(StringComparer.Ordinal));
        families.Count.ShouldBeGreaterThanOrEqualTo(12);
    }

    private static void Runs(string path, string what)
    {
        using var session = OnnxRuntimeSession.FromFile(path);
        var shape = session.InputShape(2);
        var (output, outShape) = session.Run(new float[Secateur.Graph.TensorData.ElementCount(shape)], shape);
        outShape[0].ShouldBe(2, what);
        output.ShouldAllBe(v => float.IsFinite(v), what);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Inspect_dry_run_prune_export_and_bench_work(string file)
    {
        var model = Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage", file);
        var graph = OnnxSerializer.Load(model);

        var (code, output, error) = CliTests.Run("inspect", model);
        code.ShouldBe(0, error);
        foreach (var i in graph.Inputs) output.ShouldContain(i.Name, customMessage: file);
        // A model with several outputs names them (one output is the table's last row).
        if (graph.Outputs.Count > 1) foreach (var o in graph.Outputs) output.ShouldContain(o.Name, customMessage: file);

        (code, output, error) = CliTests.Run("prune", model, "--dry-run", "--json");
        code.ShouldBe(0, error);
        bool prunable = DependencyGraph.Build(graph).Prunable.Any();
        using (var doc = JsonDocument.Parse(output))
        {
            doc.RootElement.GetProperty("prunable").GetInt32().ShouldBe(DependencyGraph.Build(graph).Prunable.Count(), file);
            // Every blocked group says why.
            foreach (var g in doc.RootElement.GetProperty("groups").EnumerateArray().Where(g => !g.GetProperty("prunable").GetBoolean()))
                g.GetProperty("reason").GetString().ShouldNotBeNullOrWhiteSpace(file);
        }

        var toExport = model;
        if (prunable)
        {
            var pruned = Path.Combine(_dir.FullName, "pruned.onnx");
            (code, output, error) = CliTests.Run("prune", model, "--speedup", "2", "--round-to", "1", "-o", pruned, "--json");
            code.ShouldBe(0, error);
            using (var doc = JsonDocument.Parse(output))
                doc.RootElement.GetProperty("macsSpeedup").GetDouble().ShouldBeGreaterThanOrEqualTo(2 * 0.98, file);
            Runs(pruned, $"{file} pruned 2x");
            var same = Path.Combine(_dir.FullName, "ratio0.onnx");
            (code, output, error) = CliTests.Run("prune", model, "--ratio", "0", "-o", same);
            code.ShouldBe(0, error);
            output.ShouldContain("(1.00x)", customMessage: file);
            File.ReadAllBytes(same).ShouldBe(OnnxSerializer.ToBytes(graph), file);
            toExport = pruned;
        }
        else
        {
            (code, _, error) = CliTests.Run("prune", model, "--ratio", "0", "-o", Path.Combine(_dir.FullName, "never.onnx"));
            code.ShouldBe(6, error); // impossible target
            error.Trim().ShouldStartWith("error: ");
            error.Trim().ShouldNotContain("\n");
        }

        var exported = Path.Combine(_dir.FullName, "exported.onnx");
        (code, output, error) = CliTests.Run("export", toExport, "-o", exported, "--json");
        code.ShouldBe(0, error);
        using (var doc = JsonDocument.Parse(output))
            doc.RootElement.GetProperty("opset").GetInt32().ShouldBe(OnnxSerializer.OpsetFor(OnnxSerializer.Load(toExport)), file);
        Runs(exported, $"{file} exported");

        (code, output, error) = CliTests.Run("bench", exported, "--batch", "1", "--threads", "1", "--warmup", "1", "--runs", "3", "--json");
        code.ShouldBe(0, error);
        output.ShouldContain("p50", customMessage: file);
    }
}
