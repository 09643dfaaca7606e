using Secateur.Graph;
using Secateur.Models;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime;

public sealed class GraphModuleTests
{
    [Fact]
    public void Conv_bn_relu_matches_torch_functional()
    {
        var b = new GraphBuilder("t", 3, 8, 8, seed: 1);
        var x = b.Relu(b.BatchNorm(b.Conv(b.Input, "conv", 4, 3, 2, 1, bias: true), "bn"));
        var g = b.Build(b.Flatten(b.GlobalAvgPool(x)));
        using var m = new GraphModule(g);
        m.eval();
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 8, 8, generator: new Generator(3));
        var expected = nn.functional.relu(nn.functional.conv2d(input, m.Tensor("conv.weight"), m.Tensor("conv.bias"), [2, 2], [1, 1]))
            .mean([2, 3]);
        var actual = m.forward(input);
        actual.shape.ShouldBe([2L, 4L]);
        // BN with fresh statistics (mean 0, var 1) only scales by 1/sqrt(1 + eps).
        (actual - expected / Math.Sqrt(1 + 1e-5)).abs().max().item<float>().ShouldBeLessThan(1e-5f);
    }

    [Fact]
    public void Training_mode_updates_batch_norm_statistics_and_eval_does_not()
    {
        var g = ModelZoo.Create("resnet20");
        using var m = new GraphModule(g);
        using var scope = NewDisposeScope();
        var input = randn(4, 1, 28, 28, generator: new Generator(5));
        m.eval();
        using (no_grad()) m.forward(input);
        m.Tensor("bn1.running_mean").abs().sum().item<float>().ShouldBe(0f);
        m.train();
        using (no_grad()) m.forward(input);
        m.Tensor("bn1.running_mean").abs().sum().item<float>().ShouldBeGreaterThan(0f);
        var back = m.ToGraph();
        back.Initializers["bn1.running_mean"].Floats.Any(v => v != 0).ShouldBeTrue();
        g.Initializers["bn1.running_mean"].Floats.All(v => v == 0).ShouldBeTrue(); // the source graph is untouched
    }

    [Fact]
    public void Parameters_are_trainable_and_buffers_are_not()
    {
        var g = ModelZoo.Create("mobilenetv2");
        using var m = new GraphModule(g);
        var names = m.GraphParameters().Select(p => p.Name).ToList();
        names.ShouldBe(g.ParameterNames());
        names.ShouldNotContain("features.0.bn.running_mean");
        names.ShouldNotContain("const.six");
        m.GraphParameters().Sum(p => p.Parameter.numel()).ShouldBe(2_236_106L);
    }

    [Fact]
    public void A_module_built_inside_a_callers_dispose_scope_still_runs_after_the_scope_is_disposed()
    {
        var b = new GraphBuilder("scoped", 3, 8, 8, seed: 2);
        var g = b.Build(b.Flatten(b.GlobalAvgPool(b.Relu(b.BatchNorm(b.Conv(b.Input, "conv", 4, 3, 1, 1, bias: true), "bn")))));
        GraphModule m;
        using (NewDisposeScope()) m = new GraphModule(g);
        using (m)
        {
            m.eval();
            using var scope = NewDisposeScope();
            // Every parameter, buffer and constant must still be alive: reading them and running the graph would fail otherwise.
            foreach (var name in g.Initializers.Keys) m.Tensor(name).IsInvalid.ShouldBeFalse(name);
            var y = m.forward(ones(1, 3, 8, 8));
            y.shape.ShouldBe([1L, 4L]);
            var weights = GraphModule.FromTensor(m.Tensor("conv.weight"));
            weights.Floats.ShouldBe(g.Initializers["conv.weight"].Floats);
        }
    }
}

public sealed class OnnxRuntimeRoundTripTests
{
    [Theory]
    [InlineData("resnet20")]
    [InlineData("mobilenetv2")]
    [InlineData("vgg11")]
    [Trait("Category", TestCategories.Slow)]
    public void Saved_and_reloaded_model_gives_identical_outputs_and_bytes(string name)
    {
        var g = ModelZoo.Create(name, new ZooOptions(1, 28, 28, 10, Seed: 7));
        // Train one step in train mode so that BN statistics are non-trivial and must survive the trip.
        using var m = new GraphModule(g);
        using var scope = NewDisposeScope();
        m.train();
        using (no_grad()) m.forward(randn(8, 1, 28, 28, generator: new Generator(1)));
        var trained = m.ToGraph();
        var bytes = Secateur.Onnx.OnnxSerializer.ToBytes(trained);
        var loaded = Secateur.Onnx.OnnxSerializer.FromBytes(bytes, name + ".onnx");
        Secateur.Onnx.OnnxSerializer.ToBytes(loaded).ShouldBe(bytes);
        using var m2 = new GraphModule(loaded);
        m.eval(); m2.eval();
        var x = randn(4, 1, 28, 28, generator: new Generator(2));
        using (no_grad())
        {
            var a = m.forward(x); var b = m2.forward(x);
            (a - b).abs().max().item<float>().ShouldBe(0f);
        }
    }
}
