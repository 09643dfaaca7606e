using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// The GroupNorm exporters write before opset 18 (Reshape → InstanceNormalization → Reshape → Mul → Add, the second
/// Reshape's target computed from Shape) imports as one GroupNormalization node (issue 12): PyTorch's
/// <c>nn.GroupNorm</c> exported by Debian's torch at every opset 11–17, with and without affine parameters and at
/// several group counts, and the committed actnet fixture. Each equals ONNX Runtime on the exported file within 1e-4.
/// </summary>
public sealed class GroupNormImportTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-groupnorm-");

    /// <inheritdoc/>
    public void Dispose() => _dir.Delete(recursive: true);

    private static float[] Ours(ModelGraph g, float[] x, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var m = new GraphModule(g);
        m.eval();
        using var _ = no_grad();
        return GraphModule.FromTensor(m.forward(tensor(x, shape))).Floats;
    }

    private static float[] Ort(string path, string input, float[] x, long[] shape)
    {
        using var session = new InferenceSession(path);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()))]);
        return results.First().AsTensor<float>().ToArray();
    }

    private static void ShouldMatch(ModelGraph g, string path, string what)
    {
        var shape = g.Inputs[0].Concrete(2);
        var rng = new Random(3);
        var x = Enumerable.Range(0, (int)TensorData.ElementCount(shape)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        Outputs.RelativeError(Ours(g, x, shape), Ort(path, g.Inputs[0].Name, x, shape)).ShouldBeLessThan(1e-4, what);
    }

    [SkippableFact]
    [Trait("Category", TestCategories.Slow)]
    public void Torch_GroupNorm_exported_at_opsets_11_to_17_imports_as_one_GroupNormalization_node()
    {
        Skip.IfNot(File.Exists("/usr/bin/python3") && Python.Run("import torch, onnx").Code == 0,
            "/usr/bin/python3 with torch and onnx (Debian python3-torch, python3-onnx) is not available");
        // conv → GroupNorm → conv, so the norm sits between channels; groups 1, 2 and one per channel, affine or not.
        var (code, output) = Python.Run("""
            import sys, torch, torch.nn as nn
            torch.manual_seed(0)
            out = sys.argv[1]
            for opset in range(11, 18):
                for groups, affine in [(2, True), (1, False), (6, True), (3, False)]:
                    m = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.GroupNorm(groups, 6, affine=affine), nn.Conv2d(6, 4, 1)).eval()
                    if affine:
                        with torch.no_grad():
                            m[1].weight.uniform_(-2, 2); m[1].bias.uniform_(-1, 1)
                    torch.onnx.export(m, torch.randn(1, 3, 5, 7), f"{out}/gn-{opset}-{groups}-{int(affine)}.onnx", opset_version=opset,
                                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
            print("ok")
            """, _dir.FullName);
        code.ShouldBe(0, output);
        var files = _dir.GetFiles("gn-*.onnx");
        files.Length.ShouldBe(7 * 4);
        foreach (var f in files)
        {
            var g = OnnxSerializer.Load(f.FullName);
            g.Nodes.Select(n => n.Op).ShouldBe([OpKind.Conv, OpKind.GroupNormalization, OpKind.Conv], f.Name);
            var gn = g.Nodes[1];
            gn.Int("num_groups", 0).ShouldBe(long.Parse(f.Name.Split('-')[2], System.Globalization.CultureInfo.InvariantCulture), f.Name);
            g.Initializers[gn.Inputs[1]].Shape.ShouldBe([6L], f.Name);
            ShouldMatch(g, f.FullName, f.Name);
        }
    }

    [Fact]
    public void The_actnet_fixture_has_its_GroupNorm_as_one_node_and_keeps_its_InstanceNorm()
    {
        foreach (var file in new[] { "actnet.bn.op13.onnx", "actnet.fold.op17.onnx" })
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage", file);
            var g = OnnxSerializer.Load(path);
            // nn.GroupNorm(4, 16): the pattern's Reshapes, its InstanceNorm over 4 "channels", Mul and Add are gone.
            var gn = g.Nodes.Single(n => n.Op == OpKind.GroupNormalization);
            gn.Int("num_groups", 0).ShouldBe(4);
            g.Nodes.Count(n => n.Op == OpKind.InstanceNormalization).ShouldBe(1, file);
            g.Initializers[g.Nodes.Single(n => n.Op == OpKind.InstanceNormalization).Inputs[1]].Shape.ShouldBe([16L]);
            ShouldMatch(g, path, file);
        }
    }
}
