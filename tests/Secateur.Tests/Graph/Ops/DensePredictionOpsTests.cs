using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Graph.Ops;

/// <summary>Resize and ConvTranspose: every supported mode equals ONNX Runtime within 1e-4, and ConvTranspose prunes on its own axes.</summary>
public sealed class DensePredictionOpsTests
{
    private static float[] Ours(ModelGraph g, float[] x, long[] shape)
    {
        using var m = new GraphModule(g);
        m.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return m.forward(tensor(x, shape)).contiguous().data<float>().ToArray();
    }

    private static float[] Ort(ModelGraph g, float[] x, long[] shape, int opset = 17)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(OnnxSerializer.ToBytes(g, new OnnxSaveOptions { Opset = opset }), options);
        using var r = session.Run([NamedOnnxValue.CreateFromTensor(g.Inputs[0].Name, new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()))]);
        return r.First().AsTensor<float>().ToArray();
    }

    private static float[] Random(long n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static void ShouldEqual(float[] actual, float[] expected, string what)
    {
        actual.Length.ShouldBe(expected.Length, what);
        actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)).ShouldBeLessThan(1e-4f, what);
    }

    public static TheoryData<string, string, float, float> ResizeModes() => new()
    {
        { "nearest", "asymmetric", 2f, 2f },
        { "nearest", "half_pixel", 3f, 0.5f },
        { "nearest", "align_corners", 2f, 1.5f },
        { "nearest", "pytorch_half_pixel", 1.5f, 2f },
        { "linear", "half_pixel", 2f, 3f },
        { "linear", "pytorch_half_pixel", 0.5f, 2f },
        { "linear", "align_corners", 2f, 1.5f },
        { "linear", "asymmetric", 3f, 0.5f },
    };

    [Theory]
    [MemberData(nameof(ResizeModes))]
    public void Resize_equals_onnxruntime_in_every_supported_mode(string mode, string coord, float sh, float sw)
    {
        foreach (var nearestMode in mode == "nearest" ? new[] { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" } : ["floor"])
        {
            var b = new GraphBuilder("resize", 2, 6, 5, seed: 1);
            var conv = b.Conv(b.Input, "conv", 3, 1, bias: true);
            var scales = b.Initializer("scales", TensorData.FromFloats([1f, 1f, sh, sw], 4));
            var y = b.Add("resize", OpKind.Resize, [conv, "", scales], ("mode", AttributeValue.Of(mode)),
                ("coordinate_transformation_mode", AttributeValue.Of(coord)), ("nearest_mode", AttributeValue.Of(nearestMode)));
            var g = OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(b.Build(b.Conv(y, "head", 2, 1), "y")), "resize.onnx");
            var shape = new long[] { 2, 2, 6, 5 };
            var x = Random(TensorData.ElementCount(shape), 3);
            ShouldEqual(Ours(g, x, shape), Ort(g, x, shape), $"{mode}/{coord}/{nearestMode}");
            // The opset-11 form (roi and scales required) is written and read the same way.
            ShouldEqual(Ours(g, x, shape), Ort(g, x, shape, opset: 11), $"{mode}/{coord}/{nearestMode} at opset 11");
            // Channels pass through: conv's output is one prunable group that head consumes.
            DependencyGraph.Build(g).Groups.Single(gr => gr.Producers.Contains("conv")).Prunable.ShouldBeTrue();
        }
    }

    [Theory]
    [InlineData("mode", "cubic")]
    [InlineData("coordinate_transformation_mode", "tf_half_pixel_for_nn")]
    public void An_unsupported_resize_mode_is_a_typed_error_naming_the_node_and_attribute(string attribute, string value)
    {
        var b = new GraphBuilder("cubic", 2, 4, 4);
        var scales = b.Initializer("scales", TensorData.FromFloats([1f, 1f, 2f, 2f], 4));
        var y = b.Add("up", OpKind.Resize, [b.Input, "", scales], (attribute, AttributeValue.Of(value)));
        var e = Should.Throw<SecateurException>(() => new GraphModule(b.Build(y, "y")).Dispose());
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'up'");
        e.Message.ShouldContain($"{attribute} '{value}'");
    }

    public static TheoryData<long, long, long, long, long, long> TransposeGeometries() => new()
    {
        // stride, pad begin, pad end, output padding, dilation, kernel
        { 2, 0, 0, 0, 1, 2 },
        { 2, 1, 1, 1, 1, 3 },
        { 1, 2, 2, 0, 2, 3 },
        { 2, 0, 1, 0, 1, 3 },
        { 3, 1, 0, 2, 1, 3 },
    };

    [Theory]
    [MemberData(nameof(TransposeGeometries))]
    public void ConvTranspose_equals_onnxruntime_and_prunes_its_output_channels_on_weight_axis_1(long stride, long pb, long pe, long op, long dil, long k)
    {
        var b = new GraphBuilder("deconv", 3, 5, 4, seed: 2);
        var conv = b.Conv(b.Input, "conv", 4, 1, bias: true);
        var w = b.Initializer("up.weight", TensorData.FromFloats(Random(4 * 6 * k * k, 5), 4, 6, k, k));
        var bias = b.Initializer("up.bias", TensorData.FromFloats(Random(6, 6), 6));
        var up = b.Add("up", OpKind.ConvTranspose, [conv, w, bias],
            ("strides", AttributeValue.Of([stride, stride])), ("pads", AttributeValue.Of([pb, pb, pe, pe])),
            ("output_padding", AttributeValue.Of([op, op])), ("dilations", AttributeValue.Of([dil, dil])));
        var g = OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(b.Build(b.Conv(up, "head", 2, 1), "y")), "deconv.onnx");
        var shape = new long[] { 2, 3, 5, 4 };
        var x = Random(TensorData.ElementCount(shape), 9);
        ShouldEqual(Ours(g, x, shape), Ort(g, x, shape), $"stride {stride} pads {pb},{pe} output padding {op} dilation {dil}");

        // Every input pixel scatters Cout·k·k products.
        var stats = ModelStats.Compute(g);
        long outH = stride * 4 + op + (k - 1) * dil + 1 - pb - pe, outW = stride * 3 + op + (k - 1) * dil + 1 - pb - pe;
        stats.Macs.ShouldBe(3 * 4 * 5 * 4 + 4 * 5 * 4 * 6 * k * k + 6 * 2 * outH * outW);

        // conv's channels are read on axis 0 of up.weight; up's are made on its axis 1 (and the bias), read by head.
        var deps = DependencyGraph.Build(g);
        var produced = deps.Groups.Single(gr => gr.Producers.Contains("up"));
        produced.Prunable.ShouldBeTrue(produced.BlockedReason);
        produced.Slices.ShouldContain(s => s.Tensor == w && s.Axis == 1);
        deps.Groups.Single(gr => gr.Producers.Contains("conv")).Slices.ShouldContain(s => s.Tensor == w && s.Axis == 0);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [produced] = [0L, 4L] };
        var pruned = StructuredPruner.Prune(deps, remove);
        pruned.Initializers[w].Shape.ShouldBe([4L, 4L, k, k]);
        ShouldEqual(Ours(pruned, x, shape), Ours(StructuredPruner.ZeroOut(deps, remove), x, shape), "pruned vs zeroed");
        // The L1 criterion scores up's output channels across weight axis 1: one score per output channel.
        Importances.Create("l1").Score(deps, new ImportanceContext())[produced].Length.ShouldBe(6);
    }

    [Fact]
    public void ConvTranspose_output_shape_equals_onnxruntime_and_an_ambiguous_one_is_a_typed_error()
    {
        ModelGraph Build(long size)
        {
            var b = new GraphBuilder("deconv", 2, 4, 4, seed: 3);
            var w = b.Initializer("up.weight", TensorData.FromFloats(Random(2 * 3 * 3 * 3, 4), 2, 3, 3, 3));
            var up = b.Add("up", OpKind.ConvTranspose, [b.Input, w], ("strides", AttributeValue.Of([2L, 2L])), ("output_shape", AttributeValue.Of([size, size])));
            return b.Build(up, "y");
        }
        var shape = new long[] { 1, 2, 4, 4 };
        var x = Random(TensorData.ElementCount(shape), 8);
        // Full output 9: a target of 7 crops 1 at each end, unambiguously.
        var g = Build(7);
        ShouldEqual(Ours(g, x, shape), Ort(g, x, shape), "output_shape 7");
        // A target of 8 leaves one element to crop, at an end ONNX and ONNX Runtime versions disagree on.
        var e = Should.Throw<SecateurException>(() => ShapeInference.Infer(Build(8), 1));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'up'");
        e.Message.ShouldContain("output_shape");
    }

    [Fact]
    public void A_depthwise_ConvTranspose_passes_channels_and_a_grouped_one_blocks_them_with_a_reason()
    {
        var b = new GraphBuilder("dw", 3, 4, 4, seed: 4);
        var conv = b.Conv(b.Input, "conv", 4, 1, bias: true);
        var wd = b.Initializer("dw.weight", TensorData.FromFloats(Random(4 * 1 * 2 * 2, 1), 4, 1, 2, 2));
        var dw = b.Add("dw", OpKind.ConvTranspose, [conv, wd], ("strides", AttributeValue.Of([2L, 2L])), ("group", AttributeValue.Of(4L)));
        var wg = b.Initializer("grouped.weight", TensorData.FromFloats(Random(4 * 3 * 1 * 1, 2), 4, 3, 1, 1));
        var grouped = b.Add("grouped", OpKind.ConvTranspose, [dw, wg], ("group", AttributeValue.Of(2L)));
        var g = b.Build(grouped, "y");
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv"));
        group.Prunable.ShouldBeFalse();
        group.BlockedReason.ShouldNotBeNull().ShouldContain("grouped transposed convolution 'grouped' (group 2)");

        // Without the grouped layer, the depthwise one follows conv's channels and its group shrinks with them.
        var b2 = new GraphBuilder("dw", 3, 4, 4, seed: 4);
        var conv2 = b2.Conv(b2.Input, "conv", 4, 1, bias: true);
        var wd2 = b2.Initializer("dw.weight", TensorData.FromFloats(Random(4 * 1 * 2 * 2, 1), 4, 1, 2, 2));
        var dw2 = b2.Add("dw", OpKind.ConvTranspose, [conv2, wd2], ("strides", AttributeValue.Of([2L, 2L])), ("group", AttributeValue.Of(4L)));
        var g2 = b2.Build(b2.Conv(dw2, "head", 2, 1), "y");
        var deps2 = DependencyGraph.Build(g2);
        var g2group = deps2.Groups.Single(gr => gr.Producers.Contains("conv"));
        g2group.Prunable.ShouldBeTrue(g2group.BlockedReason);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [g2group] = [2L] };
        var pruned = StructuredPruner.Prune(deps2, remove);
        pruned.FindNode("dw")!.Int("group", 0).ShouldBe(3);
        var shape = new long[] { 2, 3, 4, 4 };
        var x = Random(TensorData.ElementCount(shape), 6);
        ShouldEqual(Ours(pruned, x, shape), Ours(StructuredPruner.ZeroOut(deps2, remove), x, shape), "pruned vs zeroed");
        ShouldEqual(Ours(pruned, x, shape), Ort(pruned, x, shape), "pruned depthwise vs ONNX Runtime");
    }

    [Fact]
    public void Resize_trains_gradients_reach_the_layer_before_it()
    {
        var b = new GraphBuilder("train", 2, 4, 4, seed: 5);
        var conv = b.Conv(b.Input, "conv", 3, 3, pad: 1);
        var scales = b.Initializer("scales", TensorData.FromFloats([1f, 1f, 2f, 2f], 4));
        var y = b.Add("up", OpKind.Resize, [conv, "", scales], ("mode", AttributeValue.Of("linear")));
        using var m = new GraphModule(b.Build(y, "y"));
        m.train();
        using var scope = NewDisposeScope();
        var x = randn(2, 2, 4, 4, generator: new Generator(1));
        var output = m.forward(x);
        output.shape.ShouldBe([2L, 3L, 8L, 8L]);
        output.square().sum().backward();
        m.Tensor("conv.weight").grad.ShouldNotBeNull().abs().sum().item<float>().ShouldBeGreaterThan(0f);
    }
}

/// <summary>Import-time folding of the Shape → Slice → Concat arithmetic that feeds Resize's sizes.</summary>
public sealed class ResizeFoldingTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage", file);

    [Theory]
    [InlineData("fcn_resnet50.bn.op17.onnx")]
    [InlineData("lraspp_mobilenet_v3_large.fold.op11.onnx")]
    public void Sizes_computed_from_the_input_shape_become_constant_scales_and_the_batch_stays_dynamic(string file)
    {
        var g = OnnxSerializer.Load(Fixture(file));
        var resizes = g.Nodes.Where(n => n.Op == OpKind.Resize).ToList();
        resizes.ShouldNotBeEmpty();
        foreach (var r in resizes)
        {
            // No Shape arithmetic is left: sizes became scales 1, 1 for batch and channels, and the spatial ratio.
            r.InputOrNull(3).ShouldBeNull(r.Name);
            var scales = g.Initializers[r.Inputs[2]].Floats;
            scales[0].ShouldBe(1f);
            scales[1].ShouldBe(1f);
            scales.Skip(2).ShouldAllBe(s => s > 1f);
        }
        g.Nodes.ShouldNotContain(n => n.Op == OpKind.Reshape && n.Name.Contains("Shape", StringComparison.Ordinal));
        // The output follows the batch: shapes inferred at batch 1 and 5 differ only there.
        ShapeInference.Infer(g, 1)[g.Outputs[0].Name][0].ShouldBe(1);
        ShapeInference.Infer(g, 5)[g.Outputs[0].Name].ShouldBe([5L, 4L, 64L, 64L]);
    }
}
