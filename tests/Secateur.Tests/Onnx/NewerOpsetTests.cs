using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// Opsets 22–26 (what ONNX Runtime 1.31 runs): they revised none of Secateur's ops in meaning, so files stamped with
/// them import, compute what ONNX Runtime computes, prune, and save back at their own opset; 27 is refused naming 26.
/// </summary>
public sealed class NewerOpsetTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", file);

    private static int OpsetOf(byte[] bytes) => (int)ModelProto.Parser.ParseFrom(bytes).OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version;

    /// <summary>The fixture's own file with opset_import (and ir_version) restamped: the bytes an exporter of that opset writes for these ops.</summary>
    private static byte[] Restamp(string file, int opset, long irVersion)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture(file)));
        model.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version = opset;
        model.IrVersion = irVersion;
        return model.ToByteArray();
    }

    private static float[] Ort(byte[] bytes, float[] x, long[] shape)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(bytes, options);
        var feed = NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()));
        using var results = session.Run([feed]);
        return results.First().AsTensor<float>().ToArray();
    }

    private static float[] Ours(Secateur.Graph.ModelGraph g, float[] x, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var m = new GraphModule(g);
        m.eval();
        using var _ = no_grad();
        return GraphModule.FromTensor(m.forward(tensor(x, shape))).Floats;
    }

    private static void Close(float[] a, float[] b, string what)
    {
        a.Length.ShouldBe(b.Length, what);
        for (int i = 0; i < a.Length; i++) Math.Abs(a[i] - b[i]).ShouldBeLessThan(1e-4f * Math.Max(1f, Math.Abs(b[i])), what);
    }

    [Theory]
    [InlineData("mobilenet_v3_small.bn.op17.onnx", 22, 10)]
    [InlineData("mobilenet_v3_small.bn.op17.onnx", 23, 11)]
    [InlineData("resnet18.fold.op11.onnx", 24, 12)]
    [InlineData("efficientnet_b0.bn.op17.onnx", 25, 13)]
    [InlineData("squeezenet1_1.bn.op13.onnx", 26, 13)]
    public void A_file_of_a_newer_opset_imports_equals_onnxruntime_prunes_and_saves_at_its_opset(string file, int opset, long ir)
    {
        var bytes = Restamp(file, opset, ir);
        var graph = OnnxSerializer.FromBytes(bytes, file);
        graph.SourceOpset.ShouldBe(opset);
        var shape = graph.Inputs[0].Concrete(2);
        var rng = new Random(opset);
        var x = Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        Close(Ours(graph, x, shape), Ort(bytes, x, shape), $"{file} at opset {opset}");

        // Saved without an explicit opset, it keeps its own; ratio 0 changes nothing.
        var saved = OnnxSerializer.ToBytes(graph);
        OpsetOf(saved).ShouldBe(opset);
        ModelProto.Parser.ParseFrom(saved).IrVersion.ShouldBe(ir);

        var result = Pruner.Prune(graph, Importances.Create("l1"), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 2 },
            Allocation = new AllocationOptions { RoundTo = 1 },
        });
        result.Speedup.ShouldBeGreaterThanOrEqualTo(2 * 0.98, file);
        var pruned = OnnxSerializer.ToBytes(result.Pruned);
        OpsetOf(pruned).ShouldBe(opset);
        Close(Ort(pruned, x, shape), Ours(result.Pruned, x, shape), $"{file} pruned at opset {opset}");
    }

    [Fact]
    public void An_opset_past_what_onnxruntime_runs_is_refused_naming_the_range()
    {
        var bytes = Restamp("resnet18.fold.op11.onnx", 27, 13);
        Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(bytes, "r.onnx")).Message.ShouldContain("opsets 7 to 26");
    }
}
