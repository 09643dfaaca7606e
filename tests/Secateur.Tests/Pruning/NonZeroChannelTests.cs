using Secateur.Graph;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Tests.Graph.Ops;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

/// <summary>
/// Ops that map 0 to something else (σ(0) = 0.5, x + 1, Clip with min &gt; 0, 0^0, a Pad with a nonzero value, …): a
/// removed channel would stop feeding that constant, times its weights, to the next layer, so the groups they carry block
/// where a layer reads them — unless a gate multiplies them by a value whose removed channels are 0 first (SiLU,
/// squeeze-and-excitation, Mish written out), where pruned equals zeroed.
/// </summary>
public sealed class NonZeroChannelTests
{
    private static string Scalar(GraphBuilder b, string name, float v) => b.Initializer(name, TensorData.FromFloats([v]));

    /// <summary>The graph conv1 (4) → case → conv2, and whether conv1's group must stay prunable.</summary>
    private static (ModelGraph Graph, bool Prunable) Build(string name)
    {
        var b = new GraphBuilder(name, 3, 6, 6, seed: 2);
        var x = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        (string y, bool prunable) = name switch
        {
            "sigmoid" => (b.Add("f", OpKind.Sigmoid, [x]), false),
            "hardsigmoid" => (b.Add("f", OpKind.HardSigmoid, [x], ("alpha", AttributeValue.Of(0.2f)), ("beta", AttributeValue.Of(0.3f))), false),
            "softplus" => (b.Add("f", OpKind.Softplus, [x]), false),
            "add-scalar" => (b.Add("f", OpKind.Add, [x, Scalar(b, "one", 1f)]), false),
            "scalar-minus" => (b.Add("f", OpKind.Sub, [Scalar(b, "two", 2f), x]), false),
            "clip-min" => (b.Add("f", OpKind.Clip, [x, Scalar(b, "lo", 0.25f), Scalar(b, "hi", 6f)]), false),
            "pow0" => (b.Add("f", OpKind.Pow, [x, Scalar(b, "e", 0f)]), false),
            "max-scalar" => (b.Add("f", OpKind.Max, [x, Scalar(b, "c", 0.5f)]), false),
            "pad-value" => (b.Add("f", OpKind.Pad, [x, b.Initializer("pads", TensorData.FromLongs([0, 0, 1, 1, 0, 0, 1, 1], [8])), Scalar(b, "v", 1f)]), false),
            "sigmoid-then-pool" => (b.MaxPool(b.Add("f", OpKind.Sigmoid, [x]), 2, 2), false),
            "sigmoid-in-concat" => (b.Concat([b.Relu(b.Conv(b.Input, "conv0", 2, 1)), b.Add("f", OpKind.Sigmoid, [x])], "cat"), false),
            "sigmoid-plus-x" => (b.AddValues(x, b.Add("f", OpKind.Sigmoid, [x])), false),
            // Gates: the product is 0 where the removed channel of either operand is.
            "silu" => (b.Silu(x, "f"), true),
            "hardsigmoid-gate" => (b.Add("gate", OpKind.Mul, [x, b.Add("f", OpKind.HardSigmoid, [x])]), true),
            "mish-written-out" => (b.Add("gate", OpKind.Mul, [x, b.Add("th", OpKind.Tanh, [b.Add("f", OpKind.Softplus, [x])])]), true),
            "squeeze-excitation" => (b.Add("gate", OpKind.Mul, [x, b.Add("f", OpKind.Sigmoid, [b.Conv(b.Relu(b.Conv(b.GlobalAvgPool(x), "se1", 2, 1, bias: true)), "se2", 4, 1, bias: true)])]), true),
            "sigmoid-times-scale" => (b.Add("scale", OpKind.Mul, [b.Add("f", OpKind.Sigmoid, [x]), b.Initializer("gamma", TensorData.FromFloats([1f, 2f, -1f, 0.5f], [1, 4, 1, 1]))]), true),
            "tanh" => (b.Add("f", OpKind.Tanh, [x]), true),
            "mul-scalar-then-clip" => (b.Add("f", OpKind.Clip, [b.Add("m", OpKind.Mul, [x, Scalar(b, "k", 3f)]), Scalar(b, "lo", 0f), Scalar(b, "hi", 6f)]), true),
            _ => throw new ArgumentException(name),
        };
        return (b.Build(b.Conv(y, "conv2", 2, 3, 1, 1, bias: true), "y"), prunable);
    }

    [Theory]
    [InlineData("sigmoid")]
    [InlineData("hardsigmoid")]
    [InlineData("softplus")]
    [InlineData("add-scalar")]
    [InlineData("scalar-minus")]
    [InlineData("clip-min")]
    [InlineData("pow0")]
    [InlineData("max-scalar")]
    [InlineData("pad-value")]
    [InlineData("sigmoid-then-pool")]
    [InlineData("sigmoid-in-concat")]
    [InlineData("sigmoid-plus-x")]
    [InlineData("silu")]
    [InlineData("hardsigmoid-gate")]
    [InlineData("mish-written-out")]
    [InlineData("squeeze-excitation")]
    [InlineData("sigmoid-times-scale")]
    [InlineData("tanh")]
    [InlineData("mul-scalar-then-clip")]
    public void A_channel_that_an_op_maps_away_from_zero_blocks_at_the_next_layer_unless_a_gate_zeroes_it(string name)
    {
        using var scope = NewDisposeScope();
        var (g, prunable) = Build(name);
        var input = randn(2, 3, 6, 6, generator: new Generator(5));
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1L, 2L] };
        // What removing would compute: the zeroed model with conv2's columns for the removed channels zeroed too (those
        // columns are gone in the smaller model). It differs from zeroing alone exactly when a removed channel is not 0.
        var zeroed = StructuredPruner.ZeroOut(deps, remove);
        var cut = zeroed.Clone();
        var w = cut.Initializers["conv2.weight"];
        long cin = w.Shape[1], per = w.Shape[2] * w.Shape[3];
        var removedColumns = group.Slices.Where(s => s.Node == "conv2" && s.Role == SliceRole.Consumer).SelectMany(s => remove[group].Select(s.Start)).ToHashSet();
        for (long o = 0; o < w.Shape[0]; o++)
            foreach (var c in removedColumns) Array.Clear(w.Floats, (int)((o * cin + c) * per), (int)per);
        float difference;
        using (var a = new GraphModule(zeroed))
        using (var c = new GraphModule(cut))
        {
            a.eval();
            c.eval();
            using (no_grad()) difference = (a.forward(input) - c.forward(input)).abs().max().item<float>();
        }
        if (!prunable)
        {
            difference.ShouldBeGreaterThan(1e-3f, "the case must be one where removing is not zeroing");
            group.BlockedReason.ShouldNotBeNull().ShouldContain("maps 0 to");
            group.BlockedReason.ShouldContain("'conv2'");
            return;
        }
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        difference.ShouldBeLessThan(1e-5f);
        PrunedVersusZeroed.MaxDifference(deps, remove, input).ShouldBeLessThan(1e-5f);
    }
}
