using System.Text.Json;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

/// <summary><c>--label-free</c>, unlabelled folders and <c>eval --against</c> on the command line.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class LabelFreeCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "secateur-lf-" + Guid.NewGuid().ToString("N"));
    private readonly string _dense, _pruned, _images;

    public LabelFreeCliTests()
    {
        Directory.CreateDirectory(_dir);
        _dense = Path.Combine(_dir, "dense.onnx");
        _pruned = Path.Combine(_dir, "pruned.onnx");
        _images = Path.Combine(_dir, "images");
        var dense = ModelZoo.Create("lenet5");
        OnnxSerializer.Save(dense, _dense);
        OnnxSerializer.Save(Pruner.Prune(dense, new MagnitudeImportance(1), new PruningOptions { Target = new PruningTarget { Speedup = 2 } }).Pruned, _pruned);
        UnlabelledDataTests.WriteWideImages(_images, 20);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private static void OneLineError((int Code, string Out, string Err) r, string flag)
    {
        r.Code.ShouldNotBe(0);
        // Progress and choices may come first on stderr; the failure is one last line.
        var lines = r.Err.Trim().Split('\n');
        lines.Count(l => l.StartsWith("error: ", StringComparison.Ordinal)).ShouldBe(1, r.Err);
        lines[^1].ShouldStartWith("error: ");
        lines[^1].ShouldContain(flag);
    }

    private static void Absent(JsonElement e, string name) =>
        (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null).ShouldBeTrue(name);

    [Fact]
    public void Eval_against_reports_agreement_per_output_on_unlabelled_images()
    {
        var (code, output, err) = CliTests.Run("eval", _pruned, "--data", "folder:" + _images, "--preprocess", "fashion-mnist", "--against", _dense, "--json");
        code.ShouldBe(0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        root.GetProperty("samples").GetInt64().ShouldBe(2);
        var o = root.GetProperty("agreement").EnumerateArray().ShouldHaveSingleItem();
        o.GetProperty("kind").GetString().ShouldBe("classifier");
        o.GetProperty("top1").GetDouble().ShouldBeInRange(0, 1);
        Absent(root, "accuracy"); // no labels, no accuracy
        // Against itself: perfect agreement.
        var self = CliTests.Run("eval", _dense, "--data", "folder:" + _images, "--preprocess", "fashion-mnist", "--against", _dense);
        self.Code.ShouldBe(0, self.Err);
        self.Out.ShouldContain("top-1 agreement 100.00 %");
        self.Out.ShouldContain("relative error 0.0000");
    }

    [Fact]
    public void What_needs_labels_or_a_preprocessing_is_a_one_line_error()
    {
        // Accuracy of unlabelled images.
        OneLineError(CliTests.Run("eval", _pruned, "--data", "folder:" + _images, "--preprocess", "fashion-mnist"), "(--data)");
        // No recorded preprocessing and no labels to choose one by.
        OneLineError(CliTests.Run("eval", _pruned, "--data", "folder:" + _images, "--against", _dense), "--preprocess");
        // A criterion and an allocation that read labels.
        OneLineError(CliTests.Run("prune", _dense, "--data", "folder:" + _images, "--preprocess", "fashion-mnist", "--speedup", "2", "--criterion", "taylor", "-o", Path.Combine(_dir, "t.onnx")), "(--data)");
        OneLineError(CliTests.Run("prune", _dense, "--data", "embedded", "--preprocess", "fashion-mnist", "--label-free", "--speedup", "2", "--sensitivity", "-o", Path.Combine(_dir, "s.onnx")), "--sensitivity");
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Prune_on_unlabelled_images_distils_and_reports_agreement_at_every_stage()
    {
        var output = Path.Combine(_dir, "lf.onnx");
        var (code, json, err) = CliTests.Run("prune", _dense, "--data", "folder:" + _images, "--preprocess", "fashion-mnist", "--speedup", "2", "--round-to", "1",
            "--finetune-epochs", "1", "--batch-size", "8", "-o", output, "--json");
        code.ShouldBe(0, err);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Absent(root, "accuracyBefore");
        foreach (var stage in new[] { "agreementPruned", "agreementFinetuned" })
            root.GetProperty(stage).GetProperty("outputs").GetArrayLength().ShouldBe(1);
        Absent(root, "agreementRecalibrated"); // LeNet-5 has no batch norm: recalibration changes nothing, so it is not a stage
        root.GetProperty("epochs").GetArrayLength().ShouldBe(1);
        File.Exists(output).ShouldBeTrue();
    }
}
