using System.Text.Json;

namespace Secateur.Tests.Cli;

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        // `prune`/`train --threads N` set libtorch's process-wide thread count; put it back so that no later test
        // depends on which CLI test happened to run before it (such tests also run in the serial TimingCollection).
        int threads = TorchSharp.torch.get_num_threads();
        try
        {
            int code = Secateur.Cli.Cli.Run(args, output, error);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            if (TorchSharp.torch.get_num_threads() != threads)
                TorchSharp.torch.set_num_threads(threads);
        }
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
    [InlineData(5, "eval", "lenet5", "--data", "embedded", "--threads", "0")]
    [InlineData(5, "sensitivity", "lenet5", "--data", "embedded", "--threads", "0")]
    [InlineData(5, "demo", "--threads", "0")]
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

            (code, output, error) = Run("eval", model, "--data", "embedded", "--threads", "1", "--json");
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

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
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
    [Trait("Category", TestCategories.Slow)]
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
            // Four fine-tuning steps teach an untrained ResNet-20 nothing, so the stage accuracies are checked against
            // independent evaluations instead (learning is checked on LeNet-5 below): "before" is the input model's
            // accuracy, "fine-tuned" the saved model's, and recalibration really re-estimated the batch-norm statistics.
            double Eval(string model)
            {
                var (c, o, e) = Run("eval", model, "--data", "embedded", "--json");
                c.ShouldBe(0, e);
                using var d = JsonDocument.Parse(o);
                return d.RootElement.GetProperty("accuracy").GetDouble();
            }
            root.GetProperty("accuracyBefore").GetDouble().ShouldBe(Eval("resnet20"), 0.0015); // one test image in 1,000, for kernel-order rounding
            root.GetProperty("accuracyFinetuned").GetDouble().ShouldBe(Eval(output), 0.0015);
            root.GetProperty("accuracyRecalibrated").GetDouble().ShouldNotBe(root.GetProperty("accuracyPruned").GetDouble());
            var pruned = Secateur.Onnx.OnnxSerializer.Load(output);
            Secateur.Analysis.ModelStats.Compute(pruned).Macs.ShouldBe(root.GetProperty("macs").GetInt64());
            File.ReadAllText(report).ShouldContain("| layer1.0.conv1 |");
            File.Exists(Path.ChangeExtension(report, ".json")).ShouldBeTrue();
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Fine_tuning_after_structured_pruning_learns_the_embedded_data()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-prune");
        try
        {
            var (code, json, error) = Run("prune", "lenet5", "--data", "embedded", "--speedup", "2", "--train-limit", "1500", "--finetune-epochs", "3",
                "--batch-size", "64", "--lr", "0.05", "-o", Path.Combine(dir.FullName, "pruned.onnx"), "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            // The untrained zoo model is at chance (0.1 over 10 classes); fine-tuning the pruned one for 3 epochs on
            // 1,500 images reaches about 0.6 (seed 0). A fine-tune that does not train, or trains the wrong model, stays near 0.1.
            root.GetProperty("accuracyBefore").GetDouble().ShouldBeLessThan(0.2);
            root.GetProperty("accuracyFinetuned").GetDouble().ShouldBeGreaterThan(0.4);
            root.GetProperty("accuracyFinetuned").GetDouble().ShouldBeGreaterThan(root.GetProperty("accuracyPruned").GetDouble() + 0.25);
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

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class SensitivityCliTests
{
    [Fact]
    public void Sensitivity_reports_a_point_per_group_and_ratio()
    {
        var (code, output, error) = CliTests.Run("sensitivity", "lenet5", "--data", "embedded", "--ratios", "0.5,0.9", "--validation-images", "200", "--threads", "1", "--json");
        code.ShouldBe(0, error);
        using var doc = JsonDocument.Parse(output);
        var points = doc.RootElement.GetProperty("points").EnumerateArray().ToList();
        // lenet5 has four prunable groups (conv1, conv2, fc1, fc2), two ratios each.
        points.Count.ShouldBe(8);
        // Each point is measured on exactly the 200 held-out images: its accuracy is a whole number of them.
        points.ShouldAllBe(p => Math.Abs(p.GetProperty("accuracy").GetDouble() * 200 - Math.Round(p.GetProperty("accuracy").GetDouble() * 200)) < 1e-6);
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

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class SparsePruneCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Weight_pruning_fine_tunes_with_the_zeros_fixed_and_reports_sparsity_and_accuracies()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-sparse");
        try
        {
            var output = Path.Combine(dir.FullName, "sparse.onnx");
            var (code, json, error) = Run("prune", "lenet5", "--granularity", "weight", "--sparsity", "0.8", "--scope", "global", "--criterion", "lamp",
                "--data", "embedded", "--train-limit", "1500", "--finetune-epochs", "3", "--batch-size", "64", "--lr", "0.05", "-o", output, "--json",
                "--report", Path.Combine(dir.FullName, "sparse.html"));
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            root.GetProperty("weightSparsity").GetDouble().ShouldBe(0.8, 1e-4);
            var page = File.ReadAllText(Path.Combine(dir.FullName, "sparse.html"));
            page.ShouldContain("Where the non-zero weights went");
            page.ShouldContain("non-zero params");
            page.ShouldContain("id=\"training\"");
            root.GetProperty("steps")[0].GetProperty("note").GetString().ShouldBe("step 1: pruned, fine-tuned");
            // Chance before (untrained, 0.1 over 10 classes); 3 epochs on 1,500 images with 80% of the weights fixed at
            // zero reach about 0.45 (seed 0): a fine-tune that does not train, or lets the zeros move, fails one of these.
            root.GetProperty("accuracyBefore").GetDouble().ShouldBeLessThan(0.2);
            root.GetProperty("accuracyFinetuned").GetDouble().ShouldBeGreaterThan(0.3);
            root.GetProperty("accuracyFinetuned").GetDouble().ShouldBeGreaterThan(root.GetProperty("accuracyPruned").GetDouble() + 0.2);
            var saved = Secateur.Onnx.OnnxSerializer.Load(output);
            var report = Secateur.Pruning.Unstructured.SparsityReport.Compute(saved);
            report.NonZeroParams.ShouldBe(root.GetProperty("nonZeroParams").GetInt64());
            report.Layers.Single(l => l.Layer == "fc3").Sparsity.ShouldBe(0); // the classifier is left dense
            var layers = root.GetProperty("layers").EnumerateArray().ToList();
            layers.Single(l => l.GetProperty("layer").GetString() == "fc3").GetProperty("dense").GetBoolean().ShouldBeTrue();
            layers.Where(l => !l.GetProperty("dense").GetBoolean()).Sum(l => l.GetProperty("count").GetInt64() - l.GetProperty("nonZero").GetInt64())
                .ShouldBe((long)Math.Round(0.8 * layers.Where(l => !l.GetProperty("dense").GetBoolean()).Sum(l => l.GetProperty("count").GetInt64())));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Nm_pruning_writes_a_model_that_passes_the_validator()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-nm");
        try
        {
            var output = Path.Combine(dir.FullName, "nm.onnx");
            var (code, json, error) = Run("prune", "lenet5", "--nm", "2:4", "-o", output, "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            doc.RootElement.GetProperty("nmSatisfied").GetBoolean().ShouldBeTrue();
            var saved = Secateur.Onnx.OnnxSerializer.Load(output);
            Secateur.Pruning.Unstructured.NmSparsity.Satisfies(saved, new Secateur.Pruning.Unstructured.NmPattern(2, 4), ["fc1.weight", "fc2.weight"]).ShouldBeTrue();
            // conv1 (1 input channel) and conv2 (6) are not multiples of 4: dense, and reported so.
            doc.RootElement.GetProperty("layers").EnumerateArray().Where(l => l.GetProperty("dense").GetBoolean())
                .Select(l => l.GetProperty("layer").GetString()).ShouldBe(["conv1", "conv2", "fc3"]);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Lottery_trains_prunes_rewinds_and_retrains_for_each_round()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-lottery");
        try
        {
            var (code, json, error) = Run("prune", "lenet5", "--granularity", "weight", "--sparsity", "0.75", "--schedule", "lottery", "--steps", "2",
                "--rewind-epoch", "1", "--finetune-epochs", "2", "--data", "embedded", "--train-limit", "256", "--batch-size", "64",
                "-o", Path.Combine(dir.FullName, "ticket.onnx"), "--json");
            code.ShouldBe(0, error);
            using var doc = JsonDocument.Parse(json);
            var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
            steps.Select(s => s.GetProperty("step").GetInt32()).ShouldBe([0, 1, 2]);
            steps[1].GetProperty("sparsity").GetDouble().ShouldBe(0.5, 1e-3);
            steps[2].GetProperty("sparsity").GetDouble().ShouldBe(0.75, 1e-3);
            doc.RootElement.GetProperty("epochs").GetArrayLength().ShouldBe(6); // 2 epochs of dense training + 2 rounds of 2
            error.ShouldContain("rewound to epoch 1");
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("--sparsity", "1")]
    [InlineData("--sparsity", "1.5")]
    [InlineData("--nm", "4:4")]
    [InlineData("--nm", "5:4")]
    [InlineData("--nm", "two:four")]
    [InlineData("--sparsity", "0.5", "--schedule", "lottery")]
    [InlineData("--sparsity", "0.5", "--schedule", "lottery", "--data", "embedded", "--finetune-epochs", "1", "--rewind-epoch", "1")]
    [InlineData("--sparsity", "0.5", "--criterion", "l1")]
    [InlineData("--sparsity", "0.5", "--speedup", "2")]
    [InlineData("--sparsity", "0.5", "--recalibrate", "512")]
    [InlineData("--sparsity", "0.5", "--schedule", "dynamic")]
    [InlineData("--nm", "2:4", "--schedule", "agp")]
    [InlineData("--nm", "2:4", "--sparsity", "0.5")]
    [InlineData("--sparsity", "0.5", "--schedule", "lottery", "--data", "embedded", "--finetune-epochs", "2", "--distill")]
    [InlineData("--scope", "global")]
    public void Weight_pruning_mistakes_are_one_line_errors(params string[] extra)
    {
        string[] args = ["prune", "lenet5", .. (extra.Contains("--nm") ? [] : new[] { "--granularity", "weight" }), .. extra];
        var (code, _, error) = Run(args);
        code.ShouldBe(5, error);
        error.ShouldStartWith("error: ");
        error.Trim().Split('\n').Length.ShouldBe(1);
    }

    [Theory]
    [InlineData("--sparsity", "0.5")]
    [InlineData("--schedule", "lottery", "--speedup", "2")]
    public void Weight_options_without_weight_granularity_are_rejected(params string[] extra)
    {
        var (code, _, error) = Run(["prune", "lenet5", "--speedup", "2", .. extra.Where(e => e != "--speedup" && e != "2")]);
        code.ShouldBe(5, error);
        error.ShouldContain("--granularity weight");
    }

    [Fact]
    public void Compress_and_decompress_round_trip_a_sparse_model_exactly()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-sct");
        try
        {
            var sparse = Path.Combine(dir.FullName, "sparse.onnx");
            Run("prune", "lenet5", "--granularity", "weight", "--sparsity", "0.9", "-o", sparse).Code.ShouldBe(0);
            var archive = Path.Combine(dir.FullName, "sparse.sct");
            var (code, json, error) = Run("compress", sparse, "-o", archive, "--json");
            code.ShouldBe(0, error);
            using (var doc = JsonDocument.Parse(json))
            {
                doc.RootElement.GetProperty("verified").GetBoolean().ShouldBeTrue();
                doc.RootElement.GetProperty("ratio").GetDouble().ShouldBeGreaterThan(4);
                doc.RootElement.GetProperty("bytes").GetInt64().ShouldBe(new FileInfo(archive).Length);
                doc.RootElement.GetProperty("denseOnnxBytes").GetInt64().ShouldBe(new FileInfo(sparse).Length);
            }
            var restored = Path.Combine(dir.FullName, "restored.onnx");
            (code, _, error) = Run("decompress", archive, "-o", restored);
            code.ShouldBe(0, error);
            File.ReadAllBytes(restored).ShouldBe(File.ReadAllBytes(sparse));

            (code, json, error) = Run("compress", sparse, "-o", Path.Combine(dir.FullName, "int8.sct"), "--int8", "--json");
            code.ShouldBe(0, error);
            using (var doc = JsonDocument.Parse(json)) doc.RootElement.GetProperty("lossless").GetBoolean().ShouldBeFalse();

            // An archive is a model wherever a model is read.
            (code, json, error) = Run("inspect", archive, "--json");
            code.ShouldBe(0, error);
            using (var doc = JsonDocument.Parse(json)) doc.RootElement.GetProperty("params").GetInt64().ShouldBe(61_706);

            File.WriteAllBytes(archive, File.ReadAllBytes(archive)[..^9]);
            (code, _, error) = Run("decompress", archive, "-o", restored);
            code.ShouldBe(2);
            error.ShouldStartWith("error: ");
            error.ShouldContain("truncated");
        }
        finally { dir.Delete(true); }
    }

    private static long OpsetOf(string path) =>
        Secateur.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).OpsetImport.Single(o => o.Domain.Length == 0).Version;

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Export_and_prune_write_the_chosen_opset_and_refuse_ops_newer_than_it()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-export");
        try
        {
            var exported = Path.Combine(dir.FullName, "mbv2.onnx");
            var (code, _, error) = Run("export", "mobilenetv2", "--opset", "13", "-o", exported);
            code.ShouldBe(0, error);
            OpsetOf(exported).ShouldBe(13);
            using (var session = Secateur.Deployment.OnnxRuntimeSession.FromFile(exported))
                session.Run(new float[2 * 28 * 28], [2, 1, 28, 28]).Shape.ShouldBe([2L, 10L]);

            var pruned = Path.Combine(dir.FullName, "pruned.onnx");
            (code, _, error) = Run("prune", exported, "--speedup", "2", "--opset", "12", "-o", pruned);
            code.ShouldBe(0, error);
            OpsetOf(pruned).ShouldBe(12);

            // HardSwish exists from opset 14 on: saving MobileNetV3 at 13 names the node instead of writing a broken file.
            var fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", "mobilenet_v3_small.bn.op17.onnx");
            (code, _, error) = Run("export", fixture, "--opset", "13", "-o", Path.Combine(dir.FullName, "v3.onnx"));
            code.ShouldBe((int)ErrorCode.UnsupportedOp);
            error.ShouldContain("HardSwish");
            (code, _, error) = Run("export", "lenet5", "--opset", "9", "-o", Path.Combine(dir.FullName, "old.onnx"));
            code.ShouldBe((int)ErrorCode.BadArgument);
            error.ShouldContain("opset 9");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Prune_rounds_channel_counts_to_multiples_of_8_by_default_and_exactly_with_round_to_1()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-round");
        try
        {
            List<(long Before, long After)> Groups(params string[] extra)
            {
                var (code, json, error) = Run(["prune", "resnet20", "--speedup", "2", "-o", Path.Combine(dir.FullName, "p.onnx"), "--json", .. extra]);
                code.ShouldBe(0, error);
                using var doc = JsonDocument.Parse(json);
                return doc.RootElement.GetProperty("groups").EnumerateArray()
                    .Select(g => (g.GetProperty("before").GetInt64(), g.GetProperty("after").GetInt64())).ToList();
            }
            var rounded = Groups();
            rounded.ShouldAllBe(g => g.After % 8 == 0);
            rounded.ShouldContain(g => g.After < g.Before);
            Groups("--round-to", "1").ShouldContain(g => g.After % 8 != 0); // 16 -> 11 etc.: the exact 2.02x cut
        }
        finally { dir.Delete(true); }
    }
}
