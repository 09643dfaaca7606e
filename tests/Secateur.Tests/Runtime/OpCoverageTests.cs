using Secateur.Graph;
using Secateur.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Tests.Runtime;

/// <summary>Every op of the graph executes as its ONNX definition says, checked against direct torch calls.</summary>
public sealed class OpCoverageTests
{
    private static Tensor Run(GraphBuilder b, string output, Tensor input, out GraphModule module)
    {
        var g = b.Build(output, output);
        module = new GraphModule(g);
        module.eval();
        using (no_grad()) return module.forward(input);
    }

    private static void Close(Tensor actual, Tensor expected, float tol = 1e-5f)
    {
        actual.shape.ShouldBe(expected.shape);
        (actual - expected).abs().max().item<float>().ShouldBeLessThan(tol);
    }

    [Fact]
    public void Activations_and_arithmetic()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 4, 4, generator: new Generator(1)) * 4;
        var b = new GraphBuilder("acts", 3, 4, 4);
        var sig = b.Add("sig", OpKind.Sigmoid, [b.Input]);
        var silu = b.Add("silu", OpKind.Mul, [b.Input, sig]);
        var hs = b.Add("hs", OpKind.HardSigmoid, [silu], ("alpha", AttributeValue.Of(0.2f)), ("beta", AttributeValue.Of(0.5f)));
        var hw = b.Add("hw", OpKind.HardSwish, [hs]);
        var r6 = b.Relu6(hw, "r6");
        var sub = b.Add("sub", OpKind.Sub, [r6, hs]);
        var div = b.Add("div", OpKind.Div, [sub, b.Initializer("two", TensorData.FromFloats([2f]))]);
        var y = Run(b, div, x, out var m);
        using (m)
        {
            var s = F.silu(x);
            var h = clamp(s * 0.2 + 0.5, 0, 1);
            Close(y, (F.relu6(F.hardswish(h)) - h) / 2);
        }
    }

    [Fact]
    public void Concat_pooling_flatten_reshape_gemm_matmul_softmax()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 2, 6, 6, generator: new Generator(2));
        var b = new GraphBuilder("misc", 2, 6, 6);
        var mp = b.Add("mp", OpKind.MaxPool, [b.Input], ("kernel_shape", AttributeValue.Of(3L, 3L)), ("strides", AttributeValue.Of(2L, 2L)), ("pads", AttributeValue.Of(1L, 1L, 0L, 0L)));
        var ap = b.Add("ap", OpKind.AveragePool, [b.Input], ("kernel_shape", AttributeValue.Of(3L, 3L)), ("strides", AttributeValue.Of(2L, 2L)), ("pads", AttributeValue.Of(1L, 1L, 0L, 0L)));
        var joined = b.Add("cat", OpKind.Concat, [mp, ap], ("axis", AttributeValue.Of(1L)));
        var flat = b.Add("flat", OpKind.Flatten, [joined], ("axis", AttributeValue.Of(1L)));
        var shape = b.Initializer("shape", TensorData.FromLongs([0, 4, -1], 3));
        var reshaped = b.Add("reshape", OpKind.Reshape, [flat, shape]);
        var w = b.Initializer("w", TensorData.FromFloats(Enumerable.Range(0, 9 * 5).Select(i => (i % 7 - 3) / 5f).ToArray(), 9, 5));
        var mm = b.Add("mm", OpKind.MatMul, [reshaped, w]);
        var flat2 = b.Add("flat2", OpKind.Flatten, [mm], ("axis", AttributeValue.Of(1L)));
        var g = b.Initializer("g", TensorData.FromFloats(Enumerable.Range(0, 20 * 3).Select(i => (i % 5 - 2) / 7f).ToArray(), 20, 3));
        var gemm = b.Add("gemm", OpKind.Gemm, [flat2, g, b.Initializer("c", TensorData.FromFloats([0.1f, 0.2f, 0.3f], 3))], ("alpha", AttributeValue.Of(0.5f)), ("beta", AttributeValue.Of(2f)));
        var sm = b.Add("sm", OpKind.Softmax, [gemm], ("axis", AttributeValue.Of(1L)));
        var y = Run(b, sm, x, out var m);
        using (m)
        {
            // ONNX pads (begin 1, end 0) are asymmetric: pad by hand, then pool without padding.
            var mpx = F.max_pool2d(F.pad(x, [1, 0, 1, 0], PaddingModes.Constant, double.NegativeInfinity), [3, 3], [2, 2]);
            var sumPool = F.avg_pool2d(F.pad(x, [1, 0, 1, 0]), [3, 3], [2, 2]) * 9;
            var count = F.avg_pool2d(F.pad(ones_like(x), [1, 0, 1, 0]), [3, 3], [2, 2]) * 9;
            var apx = sumPool / count; // count_include_pad = 0
            var c = cat(new[] { mpx, apx }, 1).reshape(2, 4, -1);
            var mmx = matmul(c, m.Tensor("w")).reshape(2, -1);
            var gx = matmul(mmx, m.Tensor("g")) * 0.5 + m.Tensor("c") * 2;
            Close(y, F.softmax(gx, 1));
        }
    }

    [Fact]
    public void Dropout_is_active_only_in_training()
    {
        using var scope = NewDisposeScope();
        var b = new GraphBuilder("drop", 1, 8, 8);
        var d = b.Dropout(b.Input, 0.5f, "drop");
        var x = ones(4, 1, 8, 8);
        var y = Run(b, d, x, out var m);
        using (m)
        {
            Close(y, x);
            m.train();
            var t = m.forward(x);
            var zeros = t.eq(0).sum().item<long>();
            zeros.ShouldBeGreaterThan(50);
            zeros.ShouldBeLessThan(206);
            t.max().item<float>().ShouldBe(2f); // survivors scaled by 1 / (1 - p)
        }
    }

    [SkippableFact]
    public void Cuda_request_on_a_cpu_only_build_is_a_clear_error()
    {
        Skip.If(cuda.is_available(), "CUDA is available here");
        var ex = Should.Throw<SecateurException>(() => Devices.Parse("cuda"));
        ex.Code.ShouldBe(ErrorCode.DeviceUnavailable);
        Should.Throw<SecateurException>(() => Devices.Parse("tpu")).Code.ShouldBe(ErrorCode.BadArgument);
    }
}
