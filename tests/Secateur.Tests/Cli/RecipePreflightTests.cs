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
    // Every other verb a recipe runs: its own checks (criterion, ratios, request, files, preprocessing) before step 1.
    [InlineData("criterion: foo", "sensitivity", "foo")]                              // unknown criterion
    [InlineData("ratios: 0.5,1.5", "sensitivity", "(0, 1)")]                          // a ratio that removes everything
    [InlineData("data: nosuchset", "sensitivity", "nosuchset")]                       // unknown dataset
    [InlineData("preprocess: nosuch", "sensitivity", "nosuch")]                       // bad preprocessing
    [InlineData("sparsity: 0.9\n  nm: 2:4", "sparsify", "--nm")]                      // two targets
    [InlineData("sparsity: 1.5", "sparsify", "")]                                     // a sparsity above 1
    [InlineData("sparsity: 0.5\n  mean: 0.5,abc\n  std: 1,1", "sparsify", "(--mean)")] // bad preprocessing, flag named
    [InlineData("calibration-images: 0", "quantize", "--calibration-images")]        // an empty calibration
    [InlineData("method: percentile\n  percentile: 20", "quantize", "--percentile")] // a percentile below the median
    [InlineData("model: missing.onnx", "quantize", "missing.onnx")]                   // missing model file
    [InlineData("std: 0\n  mean: 0.5", "quantize", "(--std)")]                       // bad preprocessing
    [InlineData("batch-size: 0", "train", "batch size")]                               // an empty batch
    [InlineData("preprocess: 'mean=0.5'", "train", "(--preprocess)")]                 // bad preprocessing
    [InlineData("data: nosuchset", "train", "nosuchset")]                             // unknown dataset
    [InlineData("preprocess: imagenet;layout=chwn", "eval", "chwn")]                 // bad preprocessing
    [InlineData("model: missing.onnx", "eval", "missing.onnx")]                       // missing model file
    [InlineData("runs: 0", "bench", "--runs")]                                        // no timed run
    [InlineData("against: missing.onnx", "bench", "missing.onnx")]                    // missing baseline file
    [InlineData("report: missing.json", "report", "missing.json")]                    // missing report file
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

/// <summary>The preflight must not refuse what the steps would accept.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class RecipePreflightAcceptsTests
{
    [Fact]
    public void Files_and_reports_written_by_earlier_steps_and_a_mean_for_a_model_not_yet_written_pass_the_dry_run()
    {
        // train records the statistics it trained with (one mean, one std), so a later --mean alone is whole.
        using var dir = new TempDir();
        var recipe = Path.Combine(dir.Path, "good.yaml");
        var report = Path.Combine(dir.Path, "s.html");
        File.WriteAllText(recipe, $"model: lenet5\ndata: embedded\ntrain:\n  epochs: 1\n  output: {dir.File("a.onnx")}\n"
            + $"sensitivity:\n  ratios: 0.5\n  mean: 0.5\n  report: {report}\nreport:\n  report: {Path.ChangeExtension(report, ".json")}\n"
            + $"bench:\n  model: {dir.File("a.onnx")}\n  against: {dir.File("a.onnx")}\n");
        var (code, stdout, stderr) = CliTests.Run("run", recipe, "--dry-run");
        code.ShouldBe(0, stderr);
        File.Exists(dir.File("a.onnx")).ShouldBeFalse(); // a dry run
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(4);
    }
}

/// <summary>Every preprocessing flag is a recipe field of the same name (issue 17).</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class RecipePreprocessingFieldTests
{
    [Fact]
    public void Each_preprocessing_flag_is_a_recipe_field()
    {
        using var dir = new TempDir();
        var recipe = Path.Combine(dir.Path, "p.yaml");
        File.WriteAllText(recipe, "model: lenet5\ndata: embedded\neval:\n  preprocess: unit\n  input-range: 0-255\n  mean: 0.5\n  std: 0.25\n"
            + "  bgr: true\n  gray-to-rgb: true\n  layout: nhwc\n");
        var (code, stdout, stderr) = CliTests.Run("run", recipe, "--dry-run");
        code.ShouldBe(0, stderr);
        var line = stdout.Trim();
        line.ShouldStartWith("secateur eval ");
        foreach (var flag in new[] { "--preprocess unit", "--input-range 0-255", "--mean 0.5", "--std 0.25", "--bgr", "--gray-to-rgb", "--layout nhwc" })
            line.ShouldContain(flag);
    }
}
