using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Reporting;
using Secateur.Training;
using Secateur.Tests.Data;

namespace Secateur.Tests.Workflows;

/// <summary>
/// Runs the library example of docs/library.md ("The library", the prune → recalibrate → distil → report block) so
/// that it cannot rot. The statements are the page's; only the data (the embedded subset, cut down), the model (an untrained
/// zoo ResNet-20 saved first, standing in for a trained file), the epoch count and the paths differ.
/// </summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_readme_library_example_prunes_recalibrates_distils_and_reports()
    {
        using var dir = new TempDir();
        string At(string name) => dir.File(name);
        OnnxSerializer.Save(ModelZoo.Create("resnet20", new ZooOptions(1, 28, 28, 10)), At("resnet20.onnx"));
        var lines = new List<string>();

        // --- docs/library.md block, with the substitutions named above ---
        var data = WorkflowData.Slice(128, 100);
        var model = OnnxSerializer.Load(At("resnet20.onnx"));
        var outcome = PruningPipeline.Run(model, new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 }, Data = data,
            RecalibrationImages = 1024,
            FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 1 }, Distillation = new DistillationOptions(),
        }, WorkflowProgress.ToLines(lines.Add));
        OnnxSerializer.Save(outcome.Graph, At("resnet20.2x.onnx"));
        ReportWriter.Write(Reports.From(outcome), At("prune.html"));
        // --- end of the docs/library.md block ---

        outcome.Speedup.ShouldBeGreaterThanOrEqualTo(2);
        outcome.Stages.Before.ShouldNotBeNull();
        outcome.Stages.Recalibrated.ShouldNotBeNull();
        outcome.Stages.FineTuned.ShouldNotBeNull();
        outcome.History.Count.ShouldBe(1);
        lines.ShouldContain(l => l.StartsWith("fine-tuning step 1", StringComparison.Ordinal));
        ModelStatsOf(At("resnet20.2x.onnx")).ShouldBe(outcome.After.Macs);
        var page = File.ReadAllText(At("prune.html"));
        page.ShouldContain("after BN recalibration");
        page.ShouldContain("after fine-tuning");
    }

    [Fact]
    public void The_page_still_shows_the_statements_this_test_runs()
    {
        var page = File.ReadAllText(Path.Combine(LibraryWordingTests.RepositoryRoot(), "docs", "library.md"));
        string[] statements =
        [
            "var model = OnnxSerializer.Load(\"resnet20.onnx\");",
            "var outcome = PruningPipeline.Run(model, new PruneRequest",
            "Importance = Importances.Create(\"l1\"), Target = new PruningTarget { Speedup = 2 }, Data = data,",
            "RecalibrationImages = 1024,",
            "FineTuning = PruneRequest.DefaultFineTuning with { Epochs = 3 }, Distillation = new DistillationOptions(),",
            "}, WorkflowProgress.ToLines(Console.WriteLine));",
            "OnnxSerializer.Save(outcome.Graph, \"resnet20.2x.onnx\");",
            "ReportWriter.Write(Reports.From(outcome), \"prune.html\");",
        ];
        foreach (var statement in statements) page.ShouldContain(statement);
    }

    private static long ModelStatsOf(string path) => Secateur.Analysis.ModelStats.Compute(OnnxSerializer.Load(path)).Macs;
}
