using System.Text.Json;
using Secateur.Onnx;
using Secateur.Tests.Cli;
using Secateur.Tests.Data;

namespace Secateur.Tests.Segmentation;

/// <summary><c>make-dataset fashion-seg</c>, then <c>train</c>, <c>eval</c> and <c>prune</c> with <c>--task segmentation</c>.</summary>
[Trait("Category", TestCategories.Cli)]
[Trait("Category", TestCategories.Slow)]
public sealed class SegmentationCliTests
{
    [Fact]
    public void Make_the_set_train_eval_and_prune_2x_with_task_segmentation()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "seg");
        // From the embedded subset: the full Fashion-MNIST is a Debian package CI does not install.
        var (code, output, error) = CliTests.Run("make-dataset", "fashion-seg", "-o", data, "--train", "24", "--test", "8", "--size", "32", "--from", "embedded");
        code.ShouldBe(0, error);
        File.ReadAllLines(Path.Combine(data, "classes.txt")).Length.ShouldBe(11);
        var spec = "segfolder:" + data;

        var model = Path.Combine(dir.Path, "unet.onnx");
        (code, output, error) = CliTests.Run("train", "unet", "--task", "segmentation", "--data", spec, "--epochs", "1", "--batch-size", "8", "-o", model, "--json");
        code.ShouldBe(0, error);
        using (var train = JsonDocument.Parse(output))
        {
            train.RootElement.GetProperty("task").GetString().ShouldBe("segmentation");
            train.RootElement.GetProperty("miou").GetDouble().ShouldBeInRange(0, 1);
            train.RootElement.GetProperty("classIoU").GetArrayLength().ShouldBe(11);
        }

        (code, output, error) = CliTests.Run("eval", model, "--data", spec, "--json");
        code.ShouldBe(0, error);
        using (var eval = JsonDocument.Parse(output))
        {
            eval.RootElement.GetProperty("samples").GetInt64().ShouldBe(8);
            eval.RootElement.GetProperty("pixelAccuracy").GetDouble().ShouldBe(eval.RootElement.GetProperty("accuracy").GetDouble());
        }

        var pruned = Path.Combine(dir.Path, "unet-2x.onnx");
        (code, output, error) = CliTests.Run("prune", model, "--task", "segmentation", "--data", spec, "--speedup", "2", "--round-to", "1",
            "--recalibrate", "24", "-o", pruned, "--json");
        code.ShouldBe(0, error);
        using (var prune = JsonDocument.Parse(output))
        {
            prune.RootElement.GetProperty("metric").GetString().ShouldBe("mIoU");
            prune.RootElement.GetProperty("macsSpeedup").GetDouble().ShouldBeGreaterThanOrEqualTo(2);
            prune.RootElement.GetProperty("accuracyRecalibrated").GetDouble().ShouldBeInRange(0, 1);
        }
        var graph = OnnxSerializer.Load(pruned);
        Secateur.Graph.ShapeInference.Infer(graph, 3)[graph.Outputs[0].Name].ShouldBe([3L, 11L, 32L, 32L]);
    }

    [Fact]
    public void Task_segmentation_on_labelled_data_is_a_one_line_error_naming_the_flag()
    {
        var (code, _, error) = CliTests.Run("eval", "unet", "--task", "segmentation", "--data", "embedded");
        code.ShouldNotBe(0);
        error.ShouldContain("--task");
        error.ShouldContain("masks");
        error.Trim().Split('\n').Length.ShouldBe(1);
    }
}
