using Secateur.Graph;
using Secateur.Models;

namespace Secateur.Tests.Graph;

public sealed class GraphValidatorTests
{
    private static ModelGraph Tiny()
    {
        var b = new GraphBuilder("tiny", 3, 8, 8);
        var x = b.Relu(b.Conv(b.Input, "conv", 4, 3, pad: 1), "relu");
        return b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(x, "gap"), "flat"), "fc", 2));
    }

    private static SecateurException Invalid(ModelGraph g) => Should.Throw<SecateurException>(() => GraphValidator.Validate(g));

    [Fact]
    public void A_well_formed_graph_validates() => GraphValidator.Validate(Tiny());

    [Fact]
    public void Conv_weight_that_does_not_match_the_input_channels_names_the_node()
    {
        var g = Tiny();
        g.Initializers["conv.weight"] = TensorData.Filled(0f, 4, 5, 3, 3);
        var ex = Invalid(g);
        ex.Code.ShouldBe(ErrorCode.InvalidGraph);
        ex.Message.ShouldContain("'conv'");
        ex.Message.ShouldContain("input channels");
    }

    [Fact]
    public void Reading_an_undefined_value_names_node_and_value()
    {
        var g = Tiny();
        int i = g.Nodes.FindIndex(n => n.Name == "relu");
        g.Nodes[i] = g.Nodes[i].With(inputs: ["nowhere"]);
        var ex = Invalid(g);
        ex.Message.ShouldContain("'relu'");
        ex.Message.ShouldContain("'nowhere'");
    }

    [Fact]
    public void Duplicate_node_names_and_double_writes_are_rejected()
    {
        var g = Tiny();
        g.Nodes.Insert(2, g.Nodes[1].With(name: "relu"));
        Invalid(g).Message.ShouldContain("'relu'");
        var h = Tiny();
        h.Nodes.Insert(2, new Node("relu_again", OpKind.Relu, ["conv"], ["relu"]));
        Invalid(h).Message.ShouldContain("already defined");
    }

    [Fact]
    public void Wrong_input_count_and_missing_outputs_are_rejected()
    {
        var g = Tiny();
        g.Nodes.Insert(1, new Node("add", OpKind.Add, ["conv"], ["sum"]));
        Invalid(g).Message.ShouldContain("'add' (Add) has 1 inputs, expected 2");
        var h = Tiny();
        h.Outputs[0] = h.Outputs[0] with { Name = "missing" };
        Invalid(h).Message.ShouldContain("'missing'");
    }

    [Fact]
    public void Linear_with_the_wrong_feature_count_names_the_node()
    {
        var g = Tiny();
        g.Initializers["fc.weight"] = TensorData.Filled(0f, 2, 7);
        Invalid(g).Message.ShouldContain("'fc'");
    }

    [Fact]
    public void Weights_computed_at_run_time_are_unsupported()
    {
        var g = Tiny();
        int i = g.Nodes.FindIndex(n => n.Name == "conv");
        g.Nodes[i] = g.Nodes[i].With(inputs: ["input", "input"]);
        Invalid(g).Code.ShouldBe(ErrorCode.UnsupportedOp);
    }

    [Theory]
    [InlineData(8, 3, 1, 1, 1, 8)]   // same padding
    [InlineData(8, 3, 2, 1, 1, 4)]   // stride 2
    [InlineData(9, 3, 2, 0, 1, 4)]   // floor
    [InlineData(8, 3, 1, 2, 2, 8)]   // dilation 2, pad 2
    public void Conv_output_size_follows_the_formula(long size, long kernel, long stride, long pad, long dilation, long expected)
    {
        var b = new GraphBuilder("c", 2, size, size);
        var y = b.Conv(b.Input, "c", 6, kernel, stride, pad, dilation: dilation);
        b.Shape(y).ShouldBe([1L, 6, expected, expected]);
    }

    [Fact]
    public void Depthwise_and_grouped_convolutions_infer_shapes()
    {
        var b = new GraphBuilder("g", 8, 6, 6);
        b.Shape(b.Conv(b.Input, "dw", 8, 3, pad: 1, groups: 8)).ShouldBe([1L, 8, 6, 6]);
        b.Shape(b.Conv(b.Input, "grouped", 12, 1, groups: 4)).ShouldBe([1L, 12, 6, 6]);
        Should.Throw<SecateurException>(() => b.Conv(b.Input, "bad", 6, 1, groups: 4)).Message.ShouldContain("group 4");
    }

    [Fact]
    public void Pooling_with_ceil_mode_and_auto_pad_same()
    {
        var b = new GraphBuilder("p", 1, 7, 7);
        var ceil = b.Add("ceil", OpKind.MaxPool, [b.Input], ("kernel_shape", AttributeValue.Of(2L, 2L)), ("strides", AttributeValue.Of(2L, 2L)), ("ceil_mode", AttributeValue.Of(1L)));
        b.Shape(ceil).ShouldBe([1L, 1, 4, 4]);
        var same = b.Add("same", OpKind.AveragePool, [b.Input], ("kernel_shape", AttributeValue.Of(3L, 3L)), ("strides", AttributeValue.Of(2L, 2L)), ("auto_pad", AttributeValue.Of("SAME_UPPER")));
        b.Shape(same).ShouldBe([1L, 1, 4, 4]);
    }

    [Fact]
    public void Graph_with_every_zoo_model_has_matching_parameter_names_and_buffers()
    {
        var g = ModelZoo.Create("resnet20");
        g.BufferNames().Count.ShouldBe(g.Nodes.Count(n => n.Op == OpKind.BatchNormalization) * 2);
        g.ParameterNames().ShouldNotContain("bn1.running_var");
        g.ParameterNames().ShouldContain("bn1.weight");
    }
}
