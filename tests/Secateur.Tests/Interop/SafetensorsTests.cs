using System.Buffers.Binary;
using System.Text;
using Secateur.Graph;
using Secateur.Interop;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Tests.Cli;

namespace Secateur.Tests.Interop;

/// <summary>The safetensors reader and writer, and weight import: a bad or mismatched file is one clear error naming the tensor.</summary>
public sealed class SafetensorsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-safetensors-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private static ModelGraph LeNet() => ModelZoo.Create("lenet5");

    private static void Raw(string path, string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
    }

    private static SecateurException Fails(Action action)
    {
        var e = Should.Throw<SecateurException>(action);
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldNotContain("\n");
        return e;
    }

    [Fact]
    public void Round_trip_keeps_names_order_shapes_types_and_values_in_the_standard_layout()
    {
        var path = PathOf("t.safetensors");
        var tensors = new Dictionary<string, TensorData>
        {
            ["b.weight"] = TensorData.FromFloats([1.5f, -2f, float.Epsilon, 3e8f, 0f, -0f], 2, 3),
            ["a/odd name:0"] = TensorData.FromLongs([7, -1], 2),
            ["scalar"] = TensorData.FromFloats([42f]),
        };
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var bytes = File.ReadAllBytes(path);
        long header = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        (header % 8).ShouldBe(0); // the data section is 8-aligned, as the reference writer makes it
        Encoding.UTF8.GetString(bytes, 8, (int)header).ShouldContain("\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}");
        BitConverter.ToSingle(bytes, 8 + (int)header).ShouldBe(1.5f); // raw little-endian floats
        var back = Safetensors.Load(path);
        back.Keys.ShouldBe(["b.weight", "a/odd name:0", "scalar"]);
        back["b.weight"].Floats.ShouldBe(tensors["b.weight"].Floats);
        back["b.weight"].Shape.ShouldBe([2L, 3L]);
        back["a/odd name:0"].Type.ShouldBe(ElementType.Int64);
        back["a/odd name:0"].Longs.ShouldBe([7L, -1L]);
        back["scalar"].Shape.ShouldBeEmpty();
    }

    [Fact]
    public void Malformed_files_are_one_clear_error()
    {
        var path = PathOf("bad.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("fewer than the 8");
        File.WriteAllBytes(path, [255, 255, 255, 255, 0, 0, 0, 0, 1, 2]);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("exceeds the file");
        Raw(path, "{not json", 0);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("not JSON");
        Raw(path, """{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}""", 4);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("tensor 'w' has dtype F16");
        Raw(path, """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("tensor 'w' (F32 3)");
        Raw(path, """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("4 bytes after the last tensor");
        Raw(path, """{"w":{"dtype":"F32","shape":"2"}}""", 0);
        Fails(() => Safetensors.Load(path)).Message.ShouldContain("tensor 'w' lacks");
    }

    [Fact]
    public void Import_checks_every_name_shape_type_and_value_and_names_the_tensor()
    {
        var graph = LeNet();
        var names = WeightImport.TensorNames(graph);
        var good = names.ToDictionary(n => n, n => graph.Initializers[n].Clone());
        foreach (var t in good.Values) Array.Fill(t.Floats, 0.25f);
        var imported = WeightImport.Apply(graph, good, "good");
        imported.Initializers["fc3.weight"].Floats.ShouldAllBe(v => v == 0.25f);
        graph.Initializers["fc3.weight"].Floats.ShouldNotContain(0.25f); // the input graph is left alone

        var missing = new Dictionary<string, TensorData>(good);
        missing.Remove("conv2.bias");
        Fails(() => WeightImport.Apply(graph, missing, "m.safetensors")).Message.ShouldContain("tensor 'conv2.bias' is missing");
        var extra = new Dictionary<string, TensorData>(good) { ["layer9.weight"] = TensorData.Filled(0, 2) };
        Fails(() => WeightImport.Apply(graph, extra, "e.safetensors")).Message.ShouldContain("tensor 'layer9.weight' is not a parameter");
        var shape = new Dictionary<string, TensorData>(good) { ["fc1.weight"] = TensorData.Filled(0, 60, 400) };
        Fails(() => WeightImport.Apply(graph, shape, "s.safetensors")).Message.ShouldContain("tensor 'fc1.weight' has shape 60x400, the model needs 120x400");
        var type = new Dictionary<string, TensorData>(good) { ["fc1.bias"] = TensorData.FromLongs(new long[120], 120) };
        Fails(() => WeightImport.Apply(graph, type, "t.safetensors")).Message.ShouldContain("tensor 'fc1.bias' is Int64");
        var nan = new Dictionary<string, TensorData>(good) { ["fc2.bias"] = TensorData.Filled(float.NaN, 84) };
        Fails(() => WeightImport.Apply(graph, nan, "n.safetensors")).Message.ShouldContain("tensor 'fc2.bias' has a non-finite value");
    }

    [Fact]
    public void Batch_norm_statistics_travel_with_the_parameters()
    {
        var graph = ModelZoo.Create("resnet20");
        var names = WeightImport.TensorNames(graph);
        names.ShouldContain("layer2.1.bn2.running_var");
        names.ShouldContain("layer2.1.bn2.weight");
        names.Count.ShouldBe(graph.ParameterNames().Count + graph.BufferNames().Count);
        var path = PathOf("w.safetensors");
        var changed = names.ToDictionary(n => n, n => graph.Initializers[n].Clone());
        Array.Fill(changed["layer2.1.bn2.running_var"].Floats, 3f);
        Safetensors.Save(path, changed);
        WeightImport.Load(graph, path).Initializers["layer2.1.bn2.running_var"].Floats.ShouldAllBe(v => v == 3f);
    }

    [Fact]
    [Trait("Category", TestCategories.Cli)]
    public void Cli_import_of_another_models_weights_is_one_line_and_exit_2()
    {
        var (code, _, err) = CliTests.Run("export", "resnet20", "--pytorch", PathOf("resnet20"));
        code.ShouldBe(0, err);
        OnnxSerializer.Save(LeNet(), PathOf("lenet.onnx"));
        var (bad, output, error) = CliTests.Run("import-weights", PathOf("lenet.onnx"), Path.Combine(PathOf("resnet20"), PyTorchExporter.WeightsFile), "-o", PathOf("out.onnx"));
        bad.ShouldBe(2);
        output.ShouldBeEmpty();
        error.Trim().ShouldStartWith("error: ");
        error.Trim().ShouldContain("does not fit model 'lenet5': tensor 'bn1.weight' is not a parameter or batch-norm statistic of the model (106 such");
        error.Trim().Split('\n').Length.ShouldBe(1);
        File.Exists(PathOf("out.onnx")).ShouldBeFalse();
        // The package's own weights go back into its model unchanged.
        var (ok, okOut, okErr) = CliTests.Run("import-weights", "resnet20", Path.Combine(PathOf("resnet20"), PyTorchExporter.WeightsFile), "-o", PathOf("back.onnx"), "--json");
        ok.ShouldBe(0, okErr);
        System.Text.Json.JsonDocument.Parse(okOut).RootElement.GetProperty("tensors").GetInt32().ShouldBe(107);
        var back = OnnxSerializer.Load(PathOf("back.onnx"));
        var original = ModelZoo.Create("resnet20");
        foreach (var n in WeightImport.TensorNames(original)) back.Initializers[n].Floats.ShouldBe(original.Initializers[n].Floats, n);
    }
}
