using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// Real exporters' output: torchvision models exported by torch.onnx (scripts/make-onnx-fixtures.py) import, run in
/// TorchSharp with ONNX Runtime's outputs, save back to files ONNX Runtime and onnx.checker accept, and prune.
/// </summary>
public sealed class OnnxFixtureTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-fixtures-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx");

    private static List<string> FixtureNames() =>
        Directory.GetFiles(FixtureDir, "*.onnx").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();

    public static TheoryData<string> Fixtures() => new(FixtureNames());

    private static SessionOptions OneThread() => new() { IntraOpNumThreads = 1, InterOpNumThreads = 1 };

    private static float[] RunOrt(string path, float[] input, long[] shape, out string inputName, out string outputName)
    {
        using var options = OneThread();
        using var session = new InferenceSession(path, options);
        inputName = session.InputMetadata.Keys.Single();
        outputName = session.OutputMetadata.Keys.Single();
        var tensor = new DenseTensor<float>(input, shape.Select(d => (int)d).ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, tensor)]);
        return results.Single().AsTensor<float>().ToArray();
    }

    private static float[] RunOrt(string path, float[] input, long[] shape) => RunOrt(path, input, shape, out _, out _);

    private static float[] RunSecateur(ModelGraph graph, float[] input, long[] shape)
    {
        using var module = new GraphModule(graph);
        module.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var y = module.forward(tensor(input, shape));
        return y.contiguous().data<float>().ToArray();
    }

    private static (float[] Data, long[] Shape) Input(ModelGraph graph, long batch, int seed)
    {
        var shape = graph.Inputs[0].Concrete(batch);
        var rng = new Random(seed);
        var data = new float[TensorData.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return (data, shape);
    }


    [Fact]
    public void Fixture_set_covers_every_model_both_modes_and_three_opsets()
    {
        var names = FixtureNames();
        names.Count.ShouldBe(17);
        names.Select(n => n.Split('.')[0]).Distinct().Order(StringComparer.Ordinal).ShouldBe(
            ["efficientnet_b0", "mobilenet_v2", "mobilenet_v3_small", "padnet", "resnet18", "shufflenet_v2", "squeezenet1_1", "vgg11_bn"]);
        names.Select(n => n.Split('.')[2]).Distinct().Order(StringComparer.Ordinal).ShouldBe(["op11", "op13", "op17"]);
        names.ShouldContain(n => n.Contains(".bn.", StringComparison.Ordinal));
        names.ShouldContain(n => n.Contains(".fold.", StringComparison.Ordinal));
        names.Sum(n => new FileInfo(Path.Combine(FixtureDir, n)).Length).ShouldBeLessThan(10_000_000);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Imported_fixture_gives_onnxruntimes_output_at_batch_1_and_3(string file)
    {
        var path = Path.Combine(FixtureDir, file);
        var graph = OnnxSerializer.Load(path);
        graph.Inputs.Single().Name.ShouldBe("input");
        graph.Inputs[0].Dims[0].IsSymbolic.ShouldBeTrue();
        graph.Outputs.Single().Name.ShouldBe("logits");
        foreach (var batch in new long[] { 1, 3 })
        {
            var (x, shape) = Input(graph, batch, seed: (int)batch);
            var expected = RunOrt(path, x, shape);
            expected.Length.ShouldBe((int)batch * 10);
            Outputs.RelativeError(RunSecateur(graph, x, shape), expected).ShouldBeLessThan(1e-4, $"{file} at batch {batch}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Reexported_fixture_opens_in_onnxruntime_with_the_same_output_names_and_dynamic_batch(string file)
    {
        var path = Path.Combine(FixtureDir, file);
        var graph = OnnxSerializer.Load(path);
        var saved = Path.Combine(_dir.FullName, file);
        OnnxSerializer.Save(graph, saved);
        using (var options = OneThread())
        using (var session = new InferenceSession(saved, options))
        {
            session.InputMetadata.Keys.ShouldBe(["input"]);
            session.OutputMetadata.Keys.ShouldBe(["logits"]);
            session.InputMetadata["input"].Dimensions[0].ShouldBe(-1);
            session.OutputMetadata["logits"].Dimensions[0].ShouldBe(-1);
        }
        foreach (var batch in new long[] { 1, 3 })
        {
            var (x, shape) = Input(graph, batch, seed: 10 + (int)batch);
            Outputs.RelativeError(RunOrt(saved, x, shape), RunOrt(path, x, shape)).ShouldBeLessThan(1e-4, $"{file} at batch {batch}");
        }
        // And the saved file is Secateur's own: loading and saving it again gives the same bytes.
        (OnnxSerializer.ToBytes(OnnxSerializer.Load(saved)).AsSpan().SequenceEqual(File.ReadAllBytes(saved))).ShouldBeTrue(file);
    }

    [Fact]
    public void Folding_leaves_only_secateur_ops_and_keeps_a_dynamic_reshape()
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, "shufflenet_v2.fold.op13.onnx"));
        // Every Reshape target copies the batch (0) instead of freezing the export's batch size.
        var reshapes = graph.Nodes.Where(n => n.Op == OpKind.Reshape).ToList();
        reshapes.ShouldNotBeEmpty();
        foreach (var r in reshapes) graph.Initializers[r.Inputs[1]].Longs[0].ShouldBe(0, r.Name);
        graph.Nodes.ShouldContain(n => n.Op == OpKind.Transpose);
        graph.Nodes.ShouldContain(n => n.Op == OpKind.Slice);
        // The file's ReduceMean (keepdims 0) became global pooling and a Flatten.
        graph.Nodes.ShouldContain(n => n.Op == OpKind.GlobalAveragePool);
        // The shape arithmetic's constants are gone with it.
        graph.Initializers.Values.Count(t => t.Type == ElementType.Int64).ShouldBeLessThan(3 * reshapes.Count + 3 * graph.Nodes.Count(n => n.Op == OpKind.Slice) + 1);
    }

    [Fact]
    public void Kept_batch_norm_fixture_keeps_batch_norm_with_named_weights()
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, "efficientnet_b0.bn.op17.onnx"));
        var bns = graph.Nodes.Where(n => n.Op == OpKind.BatchNormalization).ToList();
        bns.ShouldNotBeEmpty();
        bns.ShouldAllBe(n => !n.Attributes.ContainsKey("training_mode"));
        // Identity nodes over initializers became the initializers they name; no weight is shared by two layers.
        graph.Nodes.ShouldNotContain(n => n.Op == OpKind.Identity && graph.IsInitializer(n.Inputs[0]));
        graph.IsInitializer("features.7.0.block.2.fc2.bias").ShouldBeTrue();
        var weightReads = graph.Nodes.SelectMany(n => n.Inputs.Skip(1)).Where(v => graph.Initializers.TryGetValue(v, out var t) && t.Type == ElementType.Float);
        weightReads.GroupBy(v => v).ShouldAllBe(g => g.Count() == 1);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Dependency_graph_builds_for_every_fixture(string file)
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var deps = DependencyGraph.Build(graph);
        deps.Groups.ShouldNotBeEmpty();
        if (file.StartsWith("shufflenet", StringComparison.Ordinal))
        {
            var blocked = deps.Groups.Where(g => !g.Prunable).Select(g => g.BlockedReason!).ToList();
            // The channel shuffle (Reshape → Transpose → Reshape) blocks its groups, saying why; the channel split (Slice) does not.
            blocked.ShouldContain(r => r.Contains("(Reshape) regroups the channel axis: it starts a channel shuffle of 2 groups", StringComparison.Ordinal));
            blocked.ShouldNotContain(r => r.Contains("(Slice)", StringComparison.Ordinal));
            Pruner.Preflight(graph).ShouldContain(e => !e.Prunable && e.Reason!.Contains("(Reshape) regroups", StringComparison.Ordinal));
        }
        else deps.Prunable.ShouldNotBeEmpty(file);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pruned_fixture_runs_and_opens_in_onnxruntime(string file)
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var result = Pruner.Prune(graph, Importances.Create("l1"), new PruningOptions { Target = new PruningTarget { Ratio = 0.3 } });
        result.After.Params.ShouldBeLessThan(result.Before.Params, file);
        // ShuffleNet too: its shuffled channels are blocked, the convolutions inside each branch are not.
        result.Groups.Count(g => g.After < g.Before).ShouldBeGreaterThan(0, file);
        var pruned = result.Pruned;
        var (x, shape) = Input(pruned, 2, seed: 5);
        var ours = RunSecateur(pruned, x, shape);
        ours.Length.ShouldBe(20);
        ours.ShouldAllBe(v => float.IsFinite(v));
        var saved = Path.Combine(_dir.FullName, "pruned-" + file);
        OnnxSerializer.Save(pruned, saved);
        Outputs.RelativeError(ours, RunOrt(saved, x, shape)).ShouldBeLessThan(1e-4, file);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pruned_fixture_equals_the_original_with_those_channels_zeroed(string file)
    {
        // The proof that every group's slices are right (residuals, concatenations, squeeze-excitation gates,
        // pads and slices on H and W): removing channels must change nothing but what zeroing them changes.
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var deps = DependencyGraph.Build(graph);
        var rng = new Random(11);
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>>();
        foreach (var g in deps.Prunable)
        {
            var all = Enumerable.Range(0, (int)g.Channels).Select(i => (long)i).ToArray();
            rng.Shuffle(all);
            choice[g] = all.Take((int)Math.Min(g.Channels - 1, Math.Round(g.Channels * 0.4))).ToArray();
        }
        choice.Values.Sum(c => c.Count).ShouldBeGreaterThan(0, file);
        var (x, shape) = Input(graph, 2, seed: 7);
        var pruned = RunSecateur(StructuredPruner.Prune(deps, choice), x, shape);
        var zeroed = RunSecateur(StructuredPruner.ZeroOut(deps, choice), x, shape);
        Outputs.RelativeError(pruned, zeroed).ShouldBeLessThan(1e-5, file);
    }

    [SkippableFact]
    [Trait("Category", TestCategories.Slow)]
    public void Reexported_fixtures_pass_the_onnx_checker()
    {
        Skip.IfNot(File.Exists("/usr/bin/python3") && Python.Run("import onnx").Code == 0,
            "/usr/bin/python3 with the onnx package (Debian python3-onnx) is not available");
        var paths = new List<string>();
        foreach (var file in FixtureNames())
        {
            var saved = Path.Combine(_dir.FullName, file);
            OnnxSerializer.Save(OnnxSerializer.Load(Path.Combine(FixtureDir, file)), saved);
            paths.Add(saved);
        }
        var (code, output) = Python.Run(
            "import sys, onnx\n" +
            "for p in sys.argv[1:]:\n" +
            "    onnx.checker.check_model(onnx.load(p), full_check=True)\n" +
            "    print('ok', p)\n",
            [.. paths]);
        code.ShouldBe(0, output);
        foreach (var p in paths) output.ShouldContain($"ok {p}");
    }

}
