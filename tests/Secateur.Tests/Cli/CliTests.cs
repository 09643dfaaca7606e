using System.Text.Json;
using Secateur.Cli;

namespace Secateur.Tests.Cli;

public sealed class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Secateur.Cli.Cli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Inspect_json_reports_the_protocol_counts()
    {
        var (code, output, _) = Run("inspect", "resnet20", "--json");
        code.ShouldBe(0);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("params").GetInt64().ShouldBe(272_186);
        doc.RootElement.GetProperty("macs").GetInt64().ShouldBe(31_021_952);
        doc.RootElement.GetProperty("layers").GetArrayLength().ShouldBeGreaterThan(20);
    }

    [Fact]
    public void Inspect_table_has_layers_and_totals()
    {
        var (code, output, _) = Run("inspect", "lenet5", "--input", "1x32x32", "--classes", "5");
        code.ShouldBe(0);
        output.ShouldContain("conv1");
        output.ShouldContain("fc3");
        output.ShouldContain("params");
    }

    [Theory]
    [InlineData(5, "inspect", "resnet21")]
    [InlineData(5, "inspect", "resnet20", "--input", "axb")]
    [InlineData(5, "inspect", "resnet20", "--input", "0x28x28")]
    [InlineData(2, "inspect", "/nonexistent/model.onnx")]
    [InlineData(5, "eval", "lenet5", "--data", "nosuchdata")]
    public void User_mistakes_give_one_line_and_an_exit_code(int expected, params string[] args)
    {
        var (code, _, error) = Run(args);
        code.ShouldBe(expected);
        error.Trim().Split('\n').Length.ShouldBe(1);
        error.ShouldStartWith("error: ");
        error.ShouldNotContain("   at ");
    }

    [Fact]
    public void Train_then_eval_round_trip_through_an_onnx_file()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-cli");
        try
        {
            var model = Path.Combine(dir.FullName, "lenet.onnx");
            var (code, output, error) = Run("train", "lenet5", "--data", "embedded", "--epochs", "1", "--train-limit", "512",
                "--batch-size", "64", "--lr", "0.05", "-o", model, "--json");
            code.ShouldBe(0, error);
            File.Exists(model).ShouldBeTrue();
            using var trained = JsonDocument.Parse(output);
            double accuracy = trained.RootElement.GetProperty("accuracy").GetDouble();
            trained.RootElement.GetProperty("params").GetInt64().ShouldBe(61_706);
            error.ShouldContain("epoch 1/1");

            (code, output, error) = Run("eval", model, "--data", "embedded", "--json");
            code.ShouldBe(0, error);
            using var evaluated = JsonDocument.Parse(output);
            evaluated.RootElement.GetProperty("accuracy").GetDouble().ShouldBe(accuracy);
            evaluated.RootElement.GetProperty("macs").GetInt64().ShouldBe(416_520);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Eval_rejects_a_model_whose_input_does_not_fit_the_data()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-cli");
        try
        {
            var model = Path.Combine(dir.FullName, "rgb.onnx");
            Secateur.Onnx.OnnxSerializer.Save(Secateur.Models.ModelZoo.Create("lenet5", new Secateur.Models.ZooOptions(3, 32, 32, 10)), model);
            var (code, _, error) = Run("eval", model, "--data", "embedded");
            code.ShouldBe(5);
            error.ShouldContain("3x32x32");
        }
        finally { dir.Delete(true); }
    }
}

public sealed class PruneCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    public void Dry_run_lists_groups_with_reasons()
    {
        var (code, output, _) = Run("prune", "mobilenetv2", "--dry-run", "--json");
        code.ShouldBe(0);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("prunable").GetInt32().ShouldBeGreaterThan(10);
        doc.RootElement.GetProperty("groups").EnumerateArray()
            .Where(g => !g.GetProperty("prunable").GetBoolean())
            .ShouldAllBe(g => g.GetProperty("reason").GetString()!.Length > 0);
    }

    [Fact]
    public void Prune_with_data_reports_accuracies_and_writes_a_smaller_model_and_report()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-prune");
        try
        {
            var output = Path.Combine(dir.FullName, "pruned.onnx");
            var report = Path.Combine(dir.FullName, "report.md");
            var (code, json, error) = Run("prune", "resnet20", "--data", "embedded", "--train-limit", "256", "--speedup", "2",
                "--criterion", "l1", "--recalibrate", "256", "--finetune-epochs", "1", "--batch-size", "64", "-o", output, "--report", report, "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            root.GetProperty("speedup").GetDouble().ShouldBeGreaterThanOrEqualTo(2);
            root.GetProperty("params").GetInt64().ShouldBeLessThan(272_186);
            root.GetProperty("macsBefore").GetInt64().ShouldBe(31_021_952);
            foreach (var k in new[] { "accuracyBefore", "accuracyPruned", "accuracyRecalibrated", "accuracyFinetuned" })
                root.GetProperty(k).GetDouble().ShouldBeInRange(0, 1);
            var pruned = Secateur.Onnx.OnnxSerializer.Load(output);
            Secateur.Analysis.ModelStats.Compute(pruned).Macs.ShouldBe(root.GetProperty("macs").GetInt64());
            File.ReadAllText(report).ShouldContain("| layer1.0.conv1 |");
            File.Exists(Path.ChangeExtension(report, ".json")).ShouldBeTrue();
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData(6, "prune", "lenet5", "--speedup", "1000")]
    [InlineData(5, "prune", "lenet5", "--speedup", "2", "--ratio", "0.5")]
    [InlineData(5, "prune", "lenet5", "--criterion", "taylor", "--speedup", "2")]
    [InlineData(5, "prune", "lenet5", "--criterion", "magic", "--speedup", "2")]
    public void Prune_mistakes_are_one_line_errors(int expected, params string[] args)
    {
        var (code, _, error) = Run(args);
        code.ShouldBe(expected);
        error.ShouldStartWith("error: ");
        error.ShouldNotContain("   at ");
    }
}

public sealed class SensitivityCliTests
{
    [Fact]
    public void Sensitivity_reports_a_point_per_group_and_ratio()
    {
        var (code, output, error) = CliTests.Run("sensitivity", "lenet5", "--data", "embedded", "--ratios", "0.5,0.9", "--validation-images", "200", "--json");
        code.ShouldBe(0, error);
        using var doc = JsonDocument.Parse(output);
        var points = doc.RootElement.GetProperty("points").EnumerateArray().ToList();
        // lenet5 has four prunable groups (conv1, conv2, fc1, fc2), two ratios each.
        points.Count.ShouldBe(8);
        points.ShouldAllBe(p => p.GetProperty("accuracy").GetDouble() >= 0 && p.GetProperty("accuracy").GetDouble() <= 1);
        double baseline = doc.RootElement.GetProperty("baseline").GetDouble();
        points.ShouldAllBe(p => Math.Abs(baseline - p.GetProperty("accuracy").GetDouble() - p.GetProperty("drop").GetDouble()) < 1e-9);
    }

    [Fact]
    public void Bad_ratios_are_rejected()
    {
        var (code, _, error) = CliTests.Run("sensitivity", "lenet5", "--data", "embedded", "--ratios", "0.5,1.5");
        code.ShouldBe(5);
        error.ShouldContain("ratios");
    }
}
