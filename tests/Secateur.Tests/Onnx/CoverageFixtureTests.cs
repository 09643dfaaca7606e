using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// The models users bring (issue 12): segmentation nets, U-Nets, detectors, grouped and ConvNeXt-style nets, old
/// exporters — the files of <c>Fixtures/onnx-coverage</c>, written by <c>scripts/make-onnx-fixtures.py</c>. Each file
/// Secateur supports is listed in <see cref="Supported"/> and must: import and equal ONNX Runtime on every output;
/// save back bit-identically after a ratio-0 prune; prune 2× where prunable into a file ONNX Runtime runs with the
/// same input and output names and a dynamic batch, equal to the original with the same channels zeroed. Every other
/// file is listed in <see cref="NotYet"/> with the reason, so the set cannot silently shrink or grow.
/// </summary>
public sealed class CoverageFixtureTests : IDisposable
{
    /// <summary>Files that import, run, round-trip and prune; add a file here when its ops land.</summary>
    public static readonly string[] Supported =
    [
        "deeplabv3_mobilenet_v3_large.fold.op13.onnx",
        "fcn_resnet50.bn.op17.onnx",
        "lraspp_mobilenet_v3_large.fold.op11.onnx",
        "shufflenet_v2_x1_0.bn.op13.onnx",
        "twoinput.fold.op13.onnx",
        "unet.bn.op11.onnx",
        "unet.fold.op13.onnx",
        "yolo.bn.op11.onnx",
        "yolo.fold.op13.onnx",
    ];

    /// <summary>Files not supported yet, with what they still need (issue 12).</summary>
    public static readonly Dictionary<string, string> NotYet = new(StringComparer.Ordinal)
    {
        ["actnet.bn.op13.onnx"] = "activations and norms (PRelu, Elu, Selu, Erf, Tanh, Softplus, InstanceNormalization, ...)",
        ["actnet.fold.op17.onnx"] = "activations and norms, LayerNormalization",
        ["convnext_tiny.fold.op13.onnx"] = "Erf, Pow, Sqrt, ReduceMean over the last axis",
        ["convnext_tiny.fold.op17.onnx"] = "LayerNormalization, Erf",
        ["oldnet.bn.op9.onnx"] = "opset 9, Upsample",
        ["oldnet.fold.op8.onnx"] = "opset 8, IR 3 initializers as inputs",
        ["oldnet.legacy.op7.onnx"] = "opset 7, BatchNormalization spatial",
        ["regnet_y_400mf.bn.op11.onnx"] = "grouped convolutions: ratio 0 writes an invalid model",
        ["resnext50_32x4d.fold.op13.onnx"] = "grouped convolutions: ratio 0 writes an invalid model",
    };

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-coverage-");

    /// <inheritdoc/>
    public void Dispose() => _dir.Delete(recursive: true);

    private static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage");

    /// <summary>The supported files, for theories.</summary>
    public static TheoryData<string> Fixtures() => new(Supported);

    [Fact]
    public void Every_coverage_fixture_is_either_supported_or_listed_with_what_it_needs()
    {
        var files = Directory.GetFiles(FixtureDir, "*.onnx").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        files.Count.ShouldBeGreaterThanOrEqualTo(18);
        Supported.Intersect(NotYet.Keys).ShouldBeEmpty();
        Supported.Concat(NotYet.Keys).Order(StringComparer.Ordinal).ShouldBe(files);
    }

    /// <summary>Random inputs in [-1, 1) for every graph input at <paramref name="batch"/>.</summary>
    private static Dictionary<string, (float[] Data, long[] Shape)> Inputs(ModelGraph graph, long batch, int seed)
    {
        var rng = new Random(seed);
        var inputs = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
        {
            var shape = i.Concrete(batch);
            var data = new float[TensorData.ElementCount(shape)];
            for (int k = 0; k < data.Length; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
            inputs[i.Name] = (data, shape);
        }
        return inputs;
    }

    private static Dictionary<string, float[]> RunOrt(string path, Dictionary<string, (float[] Data, long[] Shape)> inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(path, options);
        var feeds = inputs.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key,
            new DenseTensor<float>(kv.Value.Data, kv.Value.Shape.Select(d => (int)d).ToArray()))).ToList();
        using var results = session.Run(feeds);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray(), StringComparer.Ordinal);
    }

    private static Dictionary<string, float[]> RunSecateur(ModelGraph graph, Dictionary<string, (float[] Data, long[] Shape)> inputs)
    {
        using var module = new GraphModule(graph);
        module.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var outputs = module.Run(inputs.ToDictionary(kv => kv.Key, kv => tensor(kv.Value.Data, kv.Value.Shape), StringComparer.Ordinal));
        return graph.Outputs.ToDictionary(o => o.Name, o => outputs[o.Name].contiguous().data<float>().ToArray(), StringComparer.Ordinal);
    }

    /// <summary>max |a − b| / max |b| over one output: the error relative to the output's scale.</summary>
    private static double RelativeError(float[] actual, float[] expected)
    {
        actual.Length.ShouldBe(expected.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double diff = actual.Zip(expected).Max(p => Math.Abs((double)p.First - p.Second));
        return diff / Math.Max(scale, 1e-12);
    }

    private static void ShouldMatch(Dictionary<string, float[]> actual, Dictionary<string, float[]> expected, double tolerance, string what)
    {
        actual.Keys.Order(StringComparer.Ordinal).ShouldBe(expected.Keys.Order(StringComparer.Ordinal), what);
        foreach (var (name, values) in expected)
            RelativeError(actual[name], values).ShouldBeLessThan(tolerance, $"{what}, output '{name}'");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Imports_and_equals_onnxruntime_on_every_output_at_batch_1_and_2(string file)
    {
        var path = Path.Combine(FixtureDir, file);
        var graph = OnnxSerializer.Load(path);
        graph.Inputs.ShouldAllBe(i => i.Dims[0].IsSymbolic, file);
        foreach (var batch in new long[] { 1, 2 })
        {
            var inputs = Inputs(graph, batch, seed: (int)batch);
            ShouldMatch(RunSecateur(graph, inputs), RunOrt(path, inputs), 1e-4, $"{file} at batch {batch}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_ratio_0_prune_saves_bit_identically(string file)
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var result = Pruner.Prune(graph, Importances.Create("l1"), new PruningOptions { Target = new PruningTarget { Ratio = 0 } });
        OnnxSerializer.ToBytes(result.Pruned).AsSpan().SequenceEqual(OnnxSerializer.ToBytes(graph)).ShouldBeTrue(file);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Prunes_2x_into_a_file_onnxruntime_runs_with_the_same_names_and_a_dynamic_batch(string file)
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var deps = DependencyGraph.Build(graph);
        if (!deps.Prunable.Any())
        {
            // Nothing to prune is only acceptable with a reason for every group, shown by the dry run.
            Pruner.Preflight(graph).ShouldAllBe(e => !e.Prunable && !string.IsNullOrEmpty(e.Reason), file);
            return;
        }
        var result = Pruner.Prune(graph, Importances.Create("l1"), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 2 },
            Allocation = new AllocationOptions { RoundTo = 1 },
        });
        result.Speedup.ShouldBeGreaterThanOrEqualTo(2 * 0.98, file);
        var saved = Path.Combine(_dir.FullName, "pruned-" + file);
        OnnxSerializer.Save(result.Pruned, saved);
        using (var options = new SessionOptions { IntraOpNumThreads = 1 })
        using (var session = new InferenceSession(saved, options))
        {
            session.InputMetadata.Keys.ShouldBe(graph.Inputs.Select(i => i.Name), ignoreOrder: true);
            session.OutputMetadata.Keys.ShouldBe(graph.Outputs.Select(o => o.Name), ignoreOrder: true);
            session.InputMetadata.Values.ShouldAllBe(m => m.Dimensions[0] == -1, file);
            session.OutputMetadata.Values.ShouldAllBe(m => m.Dimensions[0] == -1, file);
        }
        var inputs = Inputs(result.Pruned, 3, seed: 5);
        ShouldMatch(RunSecateur(result.Pruned, inputs), RunOrt(saved, inputs), 1e-4, $"pruned {file}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Pruned_equals_the_original_with_those_channels_zeroed(string file)
    {
        var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
        var deps = DependencyGraph.Build(graph);
        if (!deps.Prunable.Any()) return; // covered by the 2x test's reason check
        var rng = new Random(11);
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>>();
        foreach (var g in deps.Prunable)
        {
            var all = Enumerable.Range(0, (int)g.Channels).Select(i => (long)i).ToArray();
            rng.Shuffle(all);
            choice[g] = all.Take((int)Math.Min(g.Channels - 1, Math.Round(g.Channels * 0.4))).ToArray();
        }
        var inputs = Inputs(graph, 2, seed: 7);
        ShouldMatch(RunSecateur(StructuredPruner.Prune(deps, choice), inputs), RunSecateur(StructuredPruner.ZeroOut(deps, choice), inputs),
            1e-5, $"{file}: pruned vs zeroed");
    }
}
