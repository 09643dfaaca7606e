using System.Text.Json;
using Secateur.Cli;

namespace Secateur.Tests.Cli;

public sealed class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
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
