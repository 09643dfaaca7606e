using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

/// <summary>A recipe is checked step by step before step 1: a mistake in a late step costs nothing, in a dry run or a real one.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class RecipePreflightTests
{
    [Theory]
    [InlineData("speedup: 2\n  ratio: 0.5", "prune", "")]                 // two targets
    [InlineData("speedup: 2\n  criterion: foo", "prune", "foo")]           // unknown criterion
    [InlineData("speedup: 0.5", "prune", "")]                              // a speed-up below 1
    [InlineData("speedup: 2\n  data: nosuchset", "prune", "nosuchset")]    // unknown dataset
    [InlineData("speedup: 2\n  model: missing.onnx", "prune", "missing.onnx")] // missing model file
    public void A_bad_late_step_fails_the_dry_run_and_the_real_run_before_anything_runs(string fields, string verb, string named)
    {
        using var dir = new TempDir();
        var recipe = Path.Combine(dir.Path, "bad.yaml");
        var exported = Path.Combine(dir.Path, "bad.export.onnx");
        File.WriteAllText(recipe, $"model: lenet5\nexport:\n  output: {exported}\n{verb}:\n  {fields}\n");
        foreach (var dry in new[] { true, false })
        {
            var (code, stdout, stderr) = dry ? CliTests.Run("run", recipe, "--dry-run") : CliTests.Run("run", recipe);
            code.ShouldNotBe(0, stdout + stderr);
            var line = stderr.Trim().Split('\n').Last();
            line.ShouldStartWith("error: ");
            line.ShouldContain($"step '{verb}'");
            line.ShouldContain(named);
            File.Exists(exported).ShouldBeFalse(); // the export step never ran
        }
    }
}
