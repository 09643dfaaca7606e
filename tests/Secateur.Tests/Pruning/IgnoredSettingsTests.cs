using Secateur.Models;
using Secateur.Pruning;
using Secateur.Training;

namespace Secateur.Tests.Pruning;

/// <summary>A setting that cannot take effect is a one-line warning, never silently ignored.</summary>
public sealed class IgnoredSettingsTests
{
    [Fact]
    public void Distillation_without_epochs_an_exclusion_matching_nothing_and_bn_without_batch_norm_each_warn()
    {
        var outcome = PruningPipeline.Run(ModelZoo.Create("lenet5"), new PruneRequest
        {
            Importance = Importances.Create("bn"), Target = new PruningTarget { Speedup = 1.5 }, Allocation = new AllocationOptions(RoundTo: 1),
            Distillation = new DistillationOptions(), Exclude = ["conv9*", "conv2"],
        });
        outcome.Warnings.Count.ShouldBe(3, string.Join(" | ", outcome.Warnings));
        outcome.Warnings.ShouldContain(w => w.Contains("distillation has no effect"));
        outcome.Warnings.ShouldContain(w => w.Contains("'conv9*' matches no layer"));
        outcome.Warnings.ShouldContain(w => w.Contains("no batch norm"));
    }

    [Fact]
    public void A_request_that_uses_every_setting_has_no_warning()
    {
        var outcome = PruningPipeline.Run(ModelZoo.Create("resnet20"), new PruneRequest
        {
            Importance = Importances.Create("bn"), Target = new PruningTarget { Speedup = 1.5 }, Allocation = new AllocationOptions(RoundTo: 1),
        });
        outcome.Warnings.ShouldBeEmpty();
    }

    [Fact]
    [Trait("Category", TestCategories.Cli)]
    public void Steps_and_tolerance_with_the_one_shot_schedule_warn_on_stderr()
    {
        using var dir = new Secateur.Tests.Data.TempDir();
        var (code, _, stderr) = Secateur.Tests.Cli.CliTests.Run("prune", "lenet5", "--speedup", "1.5", "--round-to", "1", "--steps", "3", "--tolerance", "0.02",
            "-o", Path.Combine(dir.Path, "p.onnx"));
        code.ShouldBe(0, stderr);
        stderr.ShouldContain("warning: --steps has no effect with the one-shot schedule");
        stderr.ShouldContain("warning: --tolerance has no effect without --schedule dynamic");
    }
}
