using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// Saving at the opsets the newer ops need (issue 12): every opset Secateur writes is one ONNX Runtime runs; without
/// an opset the lowest one from 17 that has every op is chosen; an older one asked for writes Gelu, Mish and
/// GroupNormalization as their formulas (equal to ONNX Runtime's run of the op within 1e-5) and refuses any other op
/// too new for it in one line naming the node and the parameter.
/// </summary>
public sealed class SaveOpsetTests
{
    private static int OpsetOf(byte[] bytes) => (int)ModelProto.Parser.ParseFrom(bytes).OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version;

    private static float[] Ours(ModelGraph g, Tensor input)
    {
        using var m = new GraphModule(g);
        m.eval();
        using var _ = no_grad();
        return GraphModule.FromTensor(m.forward(input)).Floats;
    }

    private static float[] Ort(byte[] bytes, Tensor input)
    {
        using var session = OnnxRuntimeSession.FromBytes(bytes, "saved.onnx");
        var flat = GraphModule.FromTensor(input);
        return session.Run(flat.Floats, flat.Shape).Output;
    }

    private static void Close(float[] actual, float[] expected, string what)
    {
        actual.Length.ShouldBe(expected.Length, what);
        for (int i = 0; i < actual.Length; i++)
            Math.Abs(actual[i] - expected[i]).ShouldBeLessThan(1e-5f * Math.Max(1f, Math.Abs(expected[i])), what);
    }

    /// <summary>conv1 → the op under test → conv2, so the op sits between channels like in a real network.</summary>
    private static ModelGraph Net(string op)
    {
        var b = new GraphBuilder(op, 3, 5, 5, seed: 3);
        var x = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        string y;
        switch (op)
        {
            case "gelu": y = b.Add("act", OpKind.Gelu, [x]); break;
            case "gelu-tanh": y = b.Add("act", OpKind.Gelu, [x], ("approximate", AttributeValue.Of("tanh"))); break;
            case "mish": y = b.Add("act", OpKind.Mish, [x]); break;
            case "groupnorm": // scale and bias per channel (opset 21's form)
            case "groupnorm-shared": // the same within each group: opset 18's form fits
                {
                    bool shared = op == "groupnorm-shared";
                    var s = b.Initializer("gn.scale", TensorData.FromFloats(shared ? [1.5f, 1.5f, -0.5f, -0.5f] : [1f, 2f, 0.5f, -1f], 4));
                    var t = b.Initializer("gn.bias", TensorData.FromFloats(shared ? [0.25f, 0.25f, -1f, -1f] : [0f, 0.5f, -0.5f, 1f], 4));
                    y = b.Add("gn", OpKind.GroupNormalization, [x, s, t], ("num_groups", AttributeValue.Of(2L)), ("epsilon", AttributeValue.Of(1e-5f)));
                    break;
                }
            case "reducemean": y = b.Add("mean", OpKind.ReduceMean, [x], ("axes", AttributeValue.Of(new long[] { 2 })), ("keepdims", AttributeValue.Of(1L))); break;
            default: y = b.Relu(x); break;
        }
        return b.Build(b.Conv(y, "conv2", 2, 1), "y");
    }

    [Fact]
    public void Every_opset_secateur_writes_is_one_onnx_runtime_runs()
    {
        using var scope = NewDisposeScope();
        var g = Net("relu");
        var input = randn(2, 3, 5, 5, generator: new Generator(1));
        var expected = Ours(g, input);
        for (int opset = OnnxSaveOptions.MinOpset; opset <= OnnxSaveOptions.MaxOpset; opset++)
        {
            var bytes = OnnxSerializer.ToBytes(g, new OnnxSaveOptions { Opset = opset });
            OpsetOf(bytes).ShouldBe(opset);
            Close(Ort(bytes, input), expected, $"opset {opset}");
        }
        Should.Throw<SecateurException>(() => OnnxSerializer.ToBytes(g, new OnnxSaveOptions { Opset = OnnxSaveOptions.MaxOpset + 1 }))
            .Parameter.ShouldBe(nameof(OnnxSaveOptions.Opset));
    }

    [Theory]
    [InlineData("relu", 17)]
    [InlineData("reducemean", 17)]
    [InlineData("mish", 18)]
    [InlineData("groupnorm-shared", 21)]
    [InlineData("gelu", 20)]
    [InlineData("gelu-tanh", 20)]
    [InlineData("groupnorm", 21)]
    public void Without_an_opset_the_lowest_that_has_every_op_is_chosen_and_older_ones_write_the_formula(string op, int chosen)
    {
        using var scope = NewDisposeScope();
        var g = Net(op);
        var input = randn(2, 3, 5, 5, generator: new Generator(2));
        var expected = Ours(g, input);
        OnnxSerializer.OpsetFor(g).ShouldBe(chosen, op);
        var auto = OnnxSerializer.ToBytes(g);
        OpsetOf(auto).ShouldBe(chosen, op);
        Close(Ort(auto, input), expected, $"{op} at the chosen opset");
        // Every older opset writes an equivalent: the formula (or GroupNormalization's per-group form), run by ONNX Runtime.
        for (int opset = OnnxSaveOptions.MinOpset; opset <= OnnxSaveOptions.MaxOpset; opset++)
        {
            var bytes = OnnxSerializer.ToBytes(g, new OnnxSaveOptions { Opset = opset });
            Close(Ort(bytes, input), expected, $"{op} at opset {opset}");
            // Read back, the file means the same (GroupNorm's written-out form folds into one node again).
            var back = OnnxSerializer.FromBytes(bytes, $"{op}.onnx");
            Close(Ours(back, input), expected, $"{op} at opset {opset}, loaded back");
            if (op.StartsWith("groupnorm", StringComparison.Ordinal)) back.Nodes.Count(n => n.Op == OpKind.GroupNormalization).ShouldBe(1);
        }
    }

    [Fact]
    public void An_opset_too_old_for_an_op_without_a_formula_is_one_line_naming_the_node_and_the_opset()
    {
        var b = new GraphBuilder("hs", 3, 5, 5, seed: 3);
        var x = b.Add("hswish", OpKind.HardSwish, [b.Conv(b.Input, "conv1", 4, 3, 1, 1)]);
        var g = b.Build(b.Conv(x, "conv2", 2, 1), "y");
        OnnxSerializer.OpsetFor(g).ShouldBe(17);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.ToBytes(g, new OnnxSaveOptions { Opset = 13 }));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Parameter.ShouldBe(nameof(OnnxSaveOptions.Opset));
        e.Message.ShouldContain("opset 13");
        e.Message.ShouldContain("'hswish'");
        e.Message.ShouldNotContain("\n");
    }
}
