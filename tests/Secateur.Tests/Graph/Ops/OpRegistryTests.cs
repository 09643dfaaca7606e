using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Tests.Graph.Ops;

/// <summary>The registry is the one list of ops: every OpKind has a definition, and a missing one is a typed error.</summary>
public sealed class OpRegistryTests
{
    // No OpKind has this value: it stands for an op added to the enum without a definition.
    private const OpKind Undefined = (OpKind)9999;

    private static ModelGraph GraphWith(OpKind op)
    {
        var g = new ModelGraph("g");
        g.Inputs.Add(ValueInfo.Batched("x", 3, 4, 4));
        g.Nodes.Add(new Node("mystery", op, ["x"], ["y"]));
        g.Outputs.Add(ValueInfo.Batched("y", 3, 4, 4));
        return g;
    }

    [Fact]
    public void Every_op_kind_has_exactly_its_own_definition()
    {
        foreach (var kind in Enum.GetValues<OpKind>())
        {
            OpRegistry.TryGet(kind, out var definition).ShouldBeTrue($"{kind} has no definition in Graph/Ops");
            definition!.Kind.ShouldBe(kind);
            definition.MinInputs.ShouldBeInRange(1, definition.MaxInputs);
        }
        OpRegistry.All.Select(d => d.Kind).ShouldBe(Enum.GetValues<OpKind>());
    }

    [Fact]
    public void An_op_without_a_definition_is_UnsupportedOp_naming_the_op_and_the_node()
    {
        OpRegistry.TryGet(Undefined, out _).ShouldBeFalse();
        var node = new Node("mystery", Undefined, ["x"], ["y"]);
        var e = Should.Throw<SecateurException>(() => OpRegistry.For(node));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("mystery");
        e.Message.ShouldContain("9999");
    }

    [Fact]
    public void Validation_shape_inference_and_parameters_report_a_missing_definition_as_UnsupportedOp()
    {
        var g = GraphWith(Undefined);
        // Before the registry, validation looked the op up in its own arity table and threw KeyNotFoundException.
        foreach (var action in new Action[] { () => GraphValidator.Validate(g), () => ShapeInference.Infer(g), () => g.ParameterNames() })
        {
            var e = Should.Throw<SecateurException>(action);
            e.Code.ShouldBe(ErrorCode.UnsupportedOp);
            e.Message.ShouldContain("'mystery'");
        }
    }

    [Fact]
    public void Constant_operands_are_not_parameters_and_running_statistics_are_buffers()
    {
        var b = new GraphBuilder("c", 3, 4, 4, seed: 1);
        var x = b.Relu6(b.BatchNorm(b.Conv(b.Input, "conv", 4, 3, 1, 1), "bn"));
        var g = b.Build(b.Flatten(x));
        g.ParameterNames().ShouldBe(["conv.weight", "bn.weight", "bn.bias"], ignoreOrder: true);
        g.BufferNames().ShouldBe(["bn.running_mean", "bn.running_var"], ignoreOrder: true);
    }

    [Theory]
    // input 6, kernel 3, stride 2: 3 outputs need 1 pad in total, which SAME_UPPER puts at the end.
    [InlineData("SAME_UPPER", 6, 0, 1, 3)]
    [InlineData("SAME_LOWER", 6, 1, 0, 3)]
    [InlineData("SAME_UPPER", 7, 1, 1, 4)]
    [InlineData("VALID", 7, 0, 0, 3)]
    public void Conv_geometry_resolves_auto_pad_as_onnx_does(string autoPad, long size, long begin, long end, long output)
    {
        var node = new Node("c", OpKind.Conv, ["x", "w"], ["y"],
            [KeyValuePair.Create("auto_pad", AttributeValue.Of(autoPad)), KeyValuePair.Create("strides", AttributeValue.Of(2L, 2L))]);
        var g = ConvGeometry.Of(node, [1, 1, size, size], [3, 3]);
        g.PadsBegin.ShouldBe([begin, begin]);
        g.PadsEnd.ShouldBe([end, end]);
        g.SymmetricPads.ShouldBe(begin == end);
        g.OutputSpatial(node, [1, 1, size, size]).ShouldBe([output, output]);
    }
}
