using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Data;
using Secateur.Tests.Data;
using StbImageWriteSharp;

namespace Secateur.Tests.Cli;

/// <summary>
/// Issue 17's contract, end to end through the CLI: a model trained elsewhere on its own inputs (the fixtures of
/// scripts/preprocessing_fixtures.py, no Secateur metadata) is evaluated under the preprocessing it was trained with,
/// and the pruned, fine-tuned file still expects exactly those inputs: ONNX Runtime fed the ORIGINAL contract's
/// tensors scores what Secateur reported.
/// </summary>
public sealed class PreprocessingCliTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "preprocessing", name);

    // The BGR fixture's data: gray images tinted R = g, G = g / 2, B = 0 (scripts/preprocessing_fixtures.py's TINT).
    private static byte[] Tint(byte g) => [g, (byte)(g / 2), 0];

    /// <summary>The embedded test images as 8-bit gray pixels (HW per image) with their labels.</summary>
    private static (byte[][] Pixels, int[] Labels) Embedded(bool train, int count)
    {
        var set = EmbeddedFashionMnist.Load(train);
        count = Math.Min(count, set.Count);
        var image = new float[set.Shape.Size];
        var pixels = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            set.CopyImage(i, image);
            pixels[i] = image.Select(v => (byte)Math.Round(v * 255)).ToArray();
        }
        return (pixels, set.Labels.Take(count).ToArray());
    }

    /// <summary>Top-1 accuracy of <paramref name="model"/> in ONNX Runtime, fed [0, 1] pixels in the fixture's own layout and channel order.</summary>
    private static double OrtAccuracy(string model, string contract, byte[][] gray, int[] labels)
    {
        using var session = new InferenceSession(model);
        var input = session.InputMetadata.Keys.Single();
        int correct = 0;
        for (int start = 0; start < gray.Length; start += 200)
        {
            int n = Math.Min(200, gray.Length - start);
            int[] shape = contract switch { "nhwc" => [n, 28, 28, 1], "bgr" => [n, 3, 28, 28], _ => [n, 1, 28, 28] };
            var data = new float[shape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < n; i++)
            {
                var g = gray[start + i];
                if (contract == "bgr")
                    for (int c = 0; c < 3; c++) // B, G, R planes of the tinted RGB image
                        for (int k = 0; k < 784; k++) data[(i * 3 + c) * 784 + k] = Tint(g[k])[2 - c] / 255f;
                else
                    for (int k = 0; k < 784; k++) data[i * 784 + k] = g[k] / 255f; // N×1×28×28 and N×28×28×1 agree for one channel
            }
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(data, shape))]);
            var logits = results[0].AsTensor<float>();
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int c = 1; c < 10; c++) if (logits[i, c] > logits[i, best]) best = c;
                if (best == labels[start + i]) correct++;
            }
        }
        return correct / (double)gray.Length;
    }

    /// <summary>A folder data set (train/ and test/, class folders 0..9 so that labels keep their index) of tinted RGB PNGs.</summary>
    private static void WriteTintedFolder(string root, int train, int test)
    {
        foreach (var (split, count) in new[] { ("train", train), ("test", test) })
        {
            var (gray, labels) = Embedded(split == "train", count);
            for (int i = 0; i < gray.Length; i++)
            {
                var rgb = gray[i].SelectMany(Tint).ToArray();
                var path = Path.Combine(root, split, labels[i].ToString(System.Globalization.CultureInfo.InvariantCulture), $"{i:D4}.png");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using var stream = File.Create(path);
                new ImageWriter().WritePng(rgb, 28, 28, ColorComponents.RedGreenBlue, stream);
            }
        }
    }

    private static JsonElement Json(string text)
    {
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    [Theory]
    [InlineData("unit")]
    [InlineData("nhwc")]
    public void A_model_without_a_recorded_preprocessing_is_fed_what_it_was_trained_on_and_its_pruned_file_keeps_that_contract(string kind)
    {
        using var dir = new TempDir();
        var model = Fixture($"{kind}.onnx");
        var (gray, labels) = Embedded(false, int.MaxValue);
        double ort = OrtAccuracy(model, kind, gray, labels);
        ort.ShouldBeGreaterThan(0.75); // the fixture learnt something, so a wrong preprocessing shows

        var (code, output, error) = CliTests.Run("eval", model, "--data", "embedded", "--json");
        code.ShouldBe(0, error);
        var eval = Json(output);
        var chosen = Secateur.Graph.InputPreprocessing.Parse(eval.GetProperty("preprocessing").GetString()!);
        chosen.ShouldBe(Secateur.Graph.InputPreprocessing.Unit with { Layout = kind == "nhwc" ? Secateur.Graph.InputLayout.Nhwc : Secateur.Graph.InputLayout.Nchw });
        eval.GetProperty("preprocessingChoice").GetProperty("candidates").GetArrayLength().ShouldBeGreaterThan(1);
        // The reason, one line on stderr, naming the choice in its short form (not seven key=value fields).
        error.ShouldContain(kind == "nhwc" ? "preprocessing: unit;layout=nhwc (the model records no input preprocessing; unit;layout=nhwc scored "
            : "preprocessing: unit (the model records no input preprocessing; unit scored ");
        eval.GetProperty("accuracy").GetDouble().ShouldBe(ort, 1.0 / gray.Length + 1e-9);

        var pruned = dir.File("pruned.onnx");
        (code, output, error) = CliTests.Run("prune", model, "--data", "embedded", "--speedup", "2", "--finetune-epochs", "1",
            "--train-limit", "600", "-o", pruned, "--json");
        code.ShouldBe(0, error);
        var prune = Json(output);
        prune.GetProperty("accuracyBefore").GetDouble().ShouldBe(ort, 1.0 / gray.Length + 1e-9);
        double reported = prune.GetProperty("accuracyFinetuned").GetDouble();
        OrtAccuracy(pruned, kind, gray, labels).ShouldBe(reported, 1.0 / gray.Length + 1e-9);
        // And the file says so: the next verb reads the contract instead of choosing again.
        Secateur.Onnx.OnnxSerializer.Load(pruned).Preprocessing.ShouldBe(chosen);
        (code, output, error) = CliTests.Run("eval", pruned, "--data", "embedded", "--json");
        code.ShouldBe(0, error);
        Json(output).TryGetProperty("preprocessingChoice", out _).ShouldBeFalse(); // null, so left out
        Json(output).GetProperty("accuracy").GetDouble().ShouldBe(reported, 1.0 / gray.Length + 1e-9);
    }

    [Fact]
    public void The_demo_model_records_what_it_was_trained_on_so_prune_does_not_guess()
    {
        using var dir = new TempDir();
        var demo = dir.File("demo.onnx");
        var (code, _, error) = CliTests.Run("demo", "--epochs", "1", "-o", demo);
        code.ShouldBe(0, error);
        Secateur.Onnx.OnnxSerializer.Load(demo).Preprocessing.ShouldNotBeNull().ShouldBe(DataSource.Resolve("embedded").Preprocessing);
        (code, _, error) = CliTests.Run("eval", demo, "--data", "embedded");
        code.ShouldBe(0, error);
        error.ShouldNotContain("preprocessing:"); // recorded, so nothing was chosen
    }

    [Fact]
    public void A_bgr_model_given_bgr_is_evaluated_and_pruned_on_its_own_channel_order()
    {
        using var dir = new TempDir();
        var folder = dir.File("tinted");
        WriteTintedFolder(folder, 600, 400);
        var model = Fixture("bgr.onnx");
        var (gray, labels) = Embedded(false, 400);
        double ort = OrtAccuracy(model, "bgr", gray, labels);
        ort.ShouldBeGreaterThan(0.7);

        var (code, output, error) = CliTests.Run("eval", model, "--data", $"folder:{folder}", "--preprocess", "unit", "--bgr", "--json");
        code.ShouldBe(0, error);
        Json(output).GetProperty("accuracy").GetDouble().ShouldBe(ort, 1.0 / gray.Length + 1e-9);
        // In RGB order the model sees its blue input lit: the order matters, so the fixture tests something.
        (code, output, error) = CliTests.Run("eval", model, "--data", $"folder:{folder}", "--preprocess", "unit", "--json");
        code.ShouldBe(0, error);
        Json(output).GetProperty("accuracy").GetDouble().ShouldBeLessThan(ort - 0.2);

        var pruned = dir.File("pruned.onnx");
        (code, output, error) = CliTests.Run("prune", model, "--data", $"folder:{folder}", "--preprocess", "unit", "--bgr",
            "--speedup", "2", "--finetune-epochs", "1", "-o", pruned, "--json");
        code.ShouldBe(0, error);
        var prune = Json(output);
        prune.GetProperty("accuracyBefore").GetDouble().ShouldBe(ort, 1.0 / gray.Length + 1e-9);
        OrtAccuracy(pruned, "bgr", gray, labels).ShouldBe(prune.GetProperty("accuracyFinetuned").GetDouble(), 1.0 / gray.Length + 1e-9);
        Secateur.Onnx.OnnxSerializer.Load(pruned).Preprocessing!.Order.ShouldBe(Secateur.Graph.ChannelOrder.Bgr);
    }

    [Fact]
    public void A_bgr_model_without_a_recorded_preprocessing_is_found_to_be_bgr_on_colour_images()
    {
        using var dir = new TempDir();
        var folder = dir.File("tinted");
        WriteTintedFolder(folder, 50, 400);
        var model = Fixture("bgr.onnx");
        var (gray, labels) = Embedded(false, 400);
        double ort = OrtAccuracy(model, "bgr", gray, labels);

        var (code, output, error) = CliTests.Run("eval", model, "--data", $"folder:{folder}", "--json");
        code.ShouldBe(0, error);
        var eval = Json(output);
        Secateur.Graph.InputPreprocessing.Parse(eval.GetProperty("preprocessing").GetString()!)
            .ShouldBe(Secateur.Graph.InputPreprocessing.Unit with { Order = Secateur.Graph.ChannelOrder.Bgr });
        error.ShouldContain("preprocessing: unit;order=bgr (");
        eval.GetProperty("preprocessingChoice").GetProperty("candidates").EnumerateArray()
            .ShouldContain(c => c.GetProperty("name").GetString() == "unit"); // RGB was tried, and lost
        eval.GetProperty("accuracy").GetDouble().ShouldBe(ort, 1.0 / gray.Length + 1e-9);
    }

    [Theory]
    [InlineData("--mean", "abc", "(--mean)")]
    [InlineData("--std", "0", "(--std)")]
    [InlineData("--mean", "0.5,0.5,0.5", "(--mean)")] // three means and no std
    [InlineData("--preprocess", "mean=abc;std=1", "(--preprocess)")]
    public void A_bad_statistic_names_the_flag_it_was_typed_in(string flag, string value, string tag)
    {
        var args = new List<string> { "eval", Fixture("unit.onnx"), "--data", "embedded", flag, value, "--test-limit", "10" };
        if (flag == "--std") args.AddRange(["--mean", "0.5"]);
        var (code, _, error) = CliTests.Run([.. args]);
        code.ShouldNotBe(0);
        error.Trim().Split('\n').Length.ShouldBe(1, error);
        error.Trim().ShouldStartWith("error: ");
        error.Trim().ShouldEndWith(tag);
    }

    [Theory]
    [InlineData("unit")]
    [InlineData("nhwc")]
    [InlineData("bgr")]
    public void Its_quantized_and_exported_files_expect_the_inputs_the_original_expected(string kind)
    {
        using var dir = new TempDir();
        var model = Fixture($"{kind}.onnx");
        string data = "embedded";
        string[] given = kind switch { "bgr" => ["--preprocess", "unit", "--bgr"], "nhwc" => ["--preprocess", "unit", "--layout", "nhwc"], _ => ["--preprocess", "unit"] };
        if (kind == "bgr")
        {
            WriteTintedFolder(dir.File("tinted"), 200, 400);
            data = $"folder:{dir.File("tinted")}";
        }
        var (gray, labels) = Embedded(false, kind == "bgr" ? 400 : int.MaxValue);
        double original = OrtAccuracy(model, kind, gray, labels);

        // int8: the unit and NHWC models choose their preprocessing themselves, the BGR one is told.
        var int8 = dir.File("q.onnx");
        var (code, output, error) = CliTests.Run(["quantize", model, "--data", data, .. kind == "bgr" ? given : [], "--calibration-images", "64",
            "--runs", "1", "--batch", "1", "-o", int8, "--json"]);
        code.ShouldBe(0, error);
        var quantize = Json(output);
        quantize.GetProperty("floatAccuracy").GetDouble().ShouldBe(original, 1.0 / gray.Length + 1e-9);
        OrtAccuracy(int8, kind, gray, labels).ShouldBe(quantize.GetProperty("int8Accuracy").GetDouble(), 1.0 / gray.Length + 1e-9);

        // Re-exported with the description given: the same inputs, and the file now says which.
        var exported = dir.File("e.onnx");
        (code, _, error) = CliTests.Run(["export", model, .. given, "-o", exported]);
        code.ShouldBe(0, error);
        OrtAccuracy(exported, kind, gray, labels).ShouldBe(original);
        (code, output, error) = CliTests.Run("eval", exported, "--data", data, "--json");
        code.ShouldBe(0, error);
        Json(output).TryGetProperty("preprocessingChoice", out _).ShouldBeFalse(); // recorded, so nothing chosen
        Json(output).GetProperty("accuracy").GetDouble().ShouldBe(original, 1.0 / gray.Length + 1e-9);
    }

    [Fact]
    public void Without_labels_or_a_recorded_preprocessing_the_cli_asks_for_preprocess()
    {
        // Labels that do not fit the model's outputs cannot choose: the neutral library error ends with the flag.
        using var dir = new TempDir();
        var folder = dir.File("many");
        for (int c = 0; c < 12; c++)
        {
            var path = Path.Combine(folder, $"c{c:D2}", "0.png");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var stream = File.Create(path);
            new ImageWriter().WritePng(new byte[28 * 28], 28, 28, ColorComponents.Grey, stream);
        }
        var (code, _, error) = CliTests.Run("eval", Fixture("unit.onnx"), "--data", $"folder:{folder}");
        code.ShouldNotBe(0);
        error.Trim().ShouldEndWith("(--preprocess)");
        error.Trim().Split('\n').Length.ShouldBe(1);
    }

    [Fact]
    public void A_model_trained_on_a_folder_at_64x64_is_pruned_evaluated_quantized_and_analysed_with_that_folder_and_no_size_option()
    {
        using var dir = new TempDir();
        var folder = dir.File("imgs");
        var random = new Random(0);
        foreach (var (split, count) in new[] { ("train", 6), ("test", 3) })
            foreach (var (name, colour) in new[] { ("red", new byte[] { 200, 30, 30 }), ("blue", new byte[] { 30, 30, 200 }) })
                for (int i = 0; i < count; i++)
                {
                    var path = Path.Combine(folder, split, name, $"{i}.png");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    var rgb = Enumerable.Range(0, 64 * 64 * 3).Select(k => (byte)Math.Clamp(colour[k % 3] + random.Next(-30, 31), 0, 255)).ToArray();
                    using var stream = File.Create(path);
                    new ImageWriter().WritePng(rgb, 64, 64, ColorComponents.RedGreenBlue, stream);
                }
        var data = $"folder:{folder}";
        var trained = dir.File("r.onnx");
        var (code, _, error) = CliTests.Run("train", "resnet20", "--data", data, "--input", "3x64x64", "--epochs", "1", "--batch-size", "4", "-o", trained);
        code.ShouldBe(0, error);
        // Every verb decodes the folder to the model's 64x64 (not a default 32x32) and feeds it what train recorded.
        (code, _, error) = CliTests.Run("prune", trained, "--data", data, "--speedup", "2", "--finetune-epochs", "1", "--batch-size", "4", "-o", dir.File("p.onnx"));
        code.ShouldBe(0, error);
        (code, _, error) = CliTests.Run("eval", trained, "--data", data);
        code.ShouldBe(0, error);
        error.ShouldNotContain("preprocessing:"); // recorded, so nothing was chosen
        (code, _, error) = CliTests.Run("sensitivity", trained, "--data", data, "--ratios", "0.5", "--json");
        code.ShouldBe(0, error);
        (code, _, error) = CliTests.Run("quantize", trained, "--data", data, "--calibration-images", "4", "--runs", "1", "--batch", "1", "-o", dir.File("q.onnx"));
        code.ShouldBe(0, error);
        var recorded = Secateur.Onnx.OnnxSerializer.Load(trained).Preprocessing.ShouldNotBeNull();
        Secateur.Onnx.OnnxSerializer.Load(dir.File("p.onnx")).Preprocessing.ShouldBe(recorded);
        using var int8 = new InferenceSession(dir.File("q.onnx"));
        int8.ModelMetadata.CustomMetadataMap[Secateur.Graph.InputPreprocessing.MetadataKey].ShouldBe(recorded.ToString());
    }

    [Theory]
    [InlineData("0-255", "raw255")]
    [InlineData("-1-1", "symmetric")]
    [InlineData("0-1", "unit")]
    public void The_input_range_flag_spellings_are_the_presets_ranges(string range, string preset)
    {
        var (code, output, error) = CliTests.Run("eval", Fixture("unit.onnx"), "--data", "embedded", "--input-range", range, "--test-limit", "20", "--json");
        code.ShouldBe(0, error);
        Secateur.Graph.InputPreprocessing.Parse(Json(output).GetProperty("preprocessing").GetString()!).ShouldBe(Secateur.Graph.InputPreprocessing.Preset(preset));
        error.ShouldNotContain("preprocessing:"); // given, so nothing was chosen
    }
}
