using System.Text.Json;
using Secateur.Graph;
using Secateur.Interop;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Interop;

/// <summary>
/// The generated PyTorch module computes what Secateur's runtime computes, for every zoo model and every ONNX fixture,
/// with state_dict keys equal to Secateur's tensor names; and the generator covers every op the runtime has.
/// </summary>
public sealed class PyTorchExportTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-pytorch-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Every_op_with_a_kernel_has_a_generator_entry()
    {
        var missing = Kernels.Supported.Except(PyTorchExporter.Supported).ToList();
        missing.ShouldBeEmpty($"ops with a kernel but no PyTorch translation: {string.Join(", ", missing)}");
        // And every op of the graph's op set has a kernel, so the generator covers the whole op set.
        Enum.GetValues<OpKind>().Except(Kernels.Supported).ShouldBeEmpty();
    }

    [Fact]
    public void Generated_forward_has_one_line_per_node_with_shapes_and_names_as_keys()
    {
        var graph = ModelZoo.Create("resnet20");
        var source = PyTorchExporter.ModelSource(graph);
        foreach (var node in graph.Nodes)
            source.ShouldContain($"  # {node.Name} ({node.Op}): ");
        source.ShouldContain("F.conv2d(input, self.t(\"conv1.weight\"), None, (1, 1), (1, 1), (1, 1), 1)  # conv1 (Conv): (N, 16, 28, 28)");
        source.ShouldContain("\"layer1.0.bn1.running_mean\": (16,),");
    }

    private static IEnumerable<(string Name, ModelGraph Graph)> Models()
    {
        foreach (var e in ModelZoo.Entries) yield return ("zoo-" + e.Name, e.Build(e.Defaults));
        foreach (var dir in new[] { "onnx", "onnx-coverage", "preprocessing" })
            foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", dir), "*.onnx").Order(StringComparer.Ordinal))
                yield return ($"{dir}-{Path.GetFileNameWithoutExtension(file)}", OnnxSerializer.Load(file));
    }

    // One python process loads every package, runs the recorded inputs and reports each output's error.
    private const string CompareScript = """
        import importlib.util, json, sys, torch
        sys.path.insert(0, sys.argv[1] + "/" + sys.argv[2])  # safetensors_lite, the same file in every package
        from safetensors_lite import load_file
        for name in sys.argv[2:]:
            d = sys.argv[1] + "/" + name
            spec = importlib.util.spec_from_file_location("model_" + name.replace("-", "_").replace(".", "_"), d + "/model.py")
            m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
            model = m.build(d + "/weights.safetensors").eval()
            io = load_file(d + "/io.safetensors")
            with torch.no_grad():
                out = model(*[io["in:" + i] for i in m.INPUTS])
            out = out if isinstance(out, tuple) else (out,)
            errors = [float((o - io["out:" + k]).abs().max() / io["out:" + k].abs().max().clamp(min=1e-12)) for o, k in zip(out, m.OUTPUTS)]
            keys = sorted(model.state_dict().keys()) == sorted(load_file(d + "/weights.safetensors").keys())
            print(json.dumps({"name": name, "errors": errors, "keys": keys, "renamed": len(model.renamed)}), flush=True)
        """;

    [SkippableFact]
    [Trait("Category", TestCategories.Slow)]
    public void Generated_module_matches_secateur_on_every_zoo_model_and_fixture()
    {
        Skip.IfNot(TorchPython.Available, TorchPython.Missing);
        var names = new List<string>();
        foreach (var (name, graph) in Models())
        {
            var dir = Path.Combine(_dir.FullName, name);
            PyTorchExporter.Export(graph, dir);
            Safetensors.Save(Path.Combine(dir, "io.safetensors"), Record(graph, seed: names.Count));
            names.Add(name);
        }
        names.Count.ShouldBeGreaterThan(40);
        var (code, output) = TorchPython.Run(["-c", CompareScript, _dir.FullName, .. names], timeout: TimeSpan.FromMinutes(5));
        code.ShouldBe(0, output);
        var results = output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        results.Select(r => r.GetProperty("name").GetString()).ShouldBe(names);
        foreach (var r in results)
        {
            var name = r.GetProperty("name").GetString();
            r.GetProperty("keys").GetBoolean().ShouldBeTrue($"{name}: state_dict keys differ from the tensor names");
            r.GetProperty("renamed").GetInt32().ShouldBe(0, name);
            foreach (var e in r.GetProperty("errors").EnumerateArray()) e.GetDouble().ShouldBeLessThan(1e-5, name);
        }
    }

    /// <summary>
    /// Random inputs and Secateur's outputs for them, named in:/out:. Batch 2 where the batch is free (so that a batch
    /// hard-coded in the generated code would show), batch 1 for the ImageNet-sized inputs (time).
    /// </summary>
    private static List<KeyValuePair<string, TensorData>> Record(ModelGraph graph, int seed)
    {
        using var scope = NewDisposeScope();
        using var module = new GraphModule(graph);
        module.eval();
        var generator = new TorchSharp.torch.Generator((ulong)seed + 1);
        long batch = graph.Inputs.All(i => TensorData.ElementCount(i.Concrete(1)) <= 3 * 64 * 64) ? 2 : 1;
        var inputs = graph.Inputs.ToDictionary(i => i.Name, i => rand(i.Concrete(batch), generator: generator) * 2 - 1);
        using var _ = no_grad();
        var outputs = module.Run(inputs);
        return [.. inputs.Select(kv => KeyValuePair.Create("in:" + kv.Key, GraphModule.FromTensor(kv.Value))),
            .. graph.Outputs.Select(o => KeyValuePair.Create("out:" + o.Name, GraphModule.FromTensor(outputs[o.Name])))];
    }
}
