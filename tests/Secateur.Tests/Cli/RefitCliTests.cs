using System.Text.Json;

namespace Secateur.Tests.Cli;

/// <summary><c>prune --refit</c> and its tuning flags: the stage is run and reported, and mistakes are one-line errors naming the flag.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class RefitCliTests
{
    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Refit_runs_between_pruning_and_recalibration_and_is_reported()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-refit");
        try
        {
            var output = Path.Combine(dir.FullName, "pruned.onnx");
            var (code, json, error) = CliTests.Run("prune", "lenet5", "--data", "embedded", "--train-limit", "128", "--speedup", "2",
                "--refit", "--refit-images", "64", "--refit-ridge", "0.01", "--refit-positions", "16", "--recalibrate", "0", "-o", output, "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            root.GetProperty("accuracyRefit").ValueKind.ShouldBe(JsonValueKind.Number);
            // The saved model is the refit one: its accuracy is the refit stage's (recalibration and fine-tuning are off).
            var (c, o, e) = CliTests.Run("eval", output, "--data", "embedded", "--json");
            c.ShouldBe(0, e);
            using var eval = JsonDocument.Parse(o);
            eval.RootElement.GetProperty("accuracy").GetDouble().ShouldBe(root.GetProperty("accuracyRefit").GetDouble(), 0.0015);
            root.GetProperty("accuracyRefit").GetDouble().ShouldNotBe(root.GetProperty("accuracyPruned").GetDouble());
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("error: refit needs calibration images (--data)", "--refit")]
    [InlineData("error: --refit-ridge has no effect without --refit", "--refit-ridge", "0.1")]
    [InlineData("error: --refit-images has no effect without --refit", "--data", "embedded", "--refit-images", "10")]
    [InlineData("error: refit needs at least 1 calibration image (got 0) (--refit-images)", "--data", "embedded", "--refit", "--refit-images", "0")]
    [InlineData("error: the refit ridge must be a finite number of at least 0 (got -1) (--refit-ridge)", "--data", "embedded", "--refit", "--refit-ridge", "-1")]
    [InlineData("error: refit positions per image must be at least 1 (got 0) (--refit-positions)", "--data", "embedded", "--refit", "--refit-positions", "0")]
    public void A_refit_mistake_is_a_one_line_error_naming_its_flag(string message, params string[] flags)
    {
        var (code, _, error) = CliTests.Run(["prune", "lenet5", "--speedup", "2", "--train-limit", "64", .. flags]);
        code.ShouldBe((int)ErrorCode.BadArgument, error);
        error.TrimEnd().Split('\n').Last().ShouldBe(message);
    }
}
