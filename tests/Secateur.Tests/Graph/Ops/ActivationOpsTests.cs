using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Graph.Ops;

/// <summary>
/// The elementwise activations of issue 12, each between two convolutions: the runtime computes the ONNX formula
/// (within 1e-6, relative to max(1, |y|)), ONNX Runtime reads the saved file the same way (1e-5 relative to max(1, |y|): x³ grows past float's absolute 1e-5), gradients flow in
/// training mode, and the channel rule either lets conv1 be pruned exactly (pruned ≡ zeroed within 1e-6) or blocks it
/// with a reason.
/// </summary>
public sealed class ActivationOpsTests
{
    private const double Alpha = 0.7, SeluAlpha = 1.67326319217681884765625, SeluGamma = 1.05070102214813232421875;

    /// <summary>erf by Abramowitz and Stegun 7.1.26 (|error| ≤ 1.5e-7, inside the 1e-6 tolerance).</summary>
    private static double Erf(double x)
    {
        double t = 1 / (1 + 0.3275911 * Math.Abs(x));
        double y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.Exp(-x * x);
        return x >= 0 ? y : -y;
    }

    private static double Softplus(double x) => Math.Log(1 + Math.Exp(x));

    private static double Reference(string op, double x) => op switch
    {
        "Elu" => x > 0 ? x : Alpha * (Math.Exp(x) - 1),
        "Selu" => SeluGamma * (x > 0 ? x : SeluAlpha * (Math.Exp(x) - 1)),
        "Gelu" => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        "GeluTanh" => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        "Erf" => Erf(x),
        "Tanh" => Math.Tanh(x),
        "Softplus" => Softplus(x),
        "Mish" => x * Math.Tanh(Softplus(x)),
        "Neg" => -x,
        "Sqrt" => Math.Sqrt(x),
        "Pow3" => x * x * x,
        "Pow1.5" => Math.Pow(x, 1.5),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    [Theory]
    [InlineData("Elu", false, true)]
    [InlineData("Selu", false, true)]
    [InlineData("Gelu", false, true)]
    [InlineData("GeluTanh", false, true)]
    [InlineData("Erf", false, true)]
    [InlineData("Tanh", false, true)]
    [InlineData("Softplus", false, false)] // ln 2 read by conv2: blocked (NonZeroChannelTests covers every such op)
    [InlineData("Mish", false, true)]
    [InlineData("Neg", false, true)]
    [InlineData("Sqrt", true, true)]
    [InlineData("Pow3", false, true)]
    [InlineData("Pow1.5", true, true)]
    public void Activation_computes_its_formula_matches_onnxruntime_trains_and_prunes_as_its_rule_says(string op, bool reluFirst, bool prunable)
    {
        var b = new GraphBuilder("act", 3, 6, 6, seed: 4);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        var x = reluFirst ? b.Relu(conv1, "relu") : conv1;
        string act = op switch
        {
            "Elu" => b.Add("act", OpKind.Elu, [x], ("alpha", AttributeValue.Of((float)Alpha))),
            "Selu" => b.Add("act", OpKind.Selu, [x]),
            "Gelu" => b.Add("act", OpKind.Gelu, [x]),
            "GeluTanh" => b.Add("act", OpKind.Gelu, [x], ("approximate", AttributeValue.Of("tanh"))),
            "Pow3" => b.Add("act", OpKind.Pow, [x, b.Initializer("e", TensorData.FromFloats([3f]))]),
            "Pow1.5" => b.Add("act", OpKind.Pow, [x, b.Initializer("e", TensorData.FromFloats([1.5f]))]),
            _ => b.Add("act", Enum.Parse<OpKind>(op), [x]),
        };
        var conv2 = b.Conv(act, "conv2", 2, 1);
        var g = b.Build(conv2, "y");

        using var scope = NewDisposeScope();
        var input = randn(2, 3, 6, 6, generator: new Generator(7));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [x, act]);
                var before = GraphModule.FromTensor(run[x]).Floats;
                var after = GraphModule.FromTensor(run[act]).Floats;
                if (!reluFirst) before.ShouldContain(v => v < 0);
                for (int i = 0; i < before.Length; i++)
                {
                    double expected = Reference(op, before[i]);
                    Math.Abs(after[i] - expected).ShouldBeLessThan(1e-6 * Math.Max(1, Math.Abs(expected)), $"{op}({before[i]})");
                }
                // Every op saves, Gelu (opset 20) and Mish (opset 18) at the opset they need (SaveOpsetTests covers older ones).
                {
                    var bytes = OnnxSerializer.ToBytes(g);
                    OnnxSerializer.FromBytes(bytes, "act.onnx").FindNode("act").ShouldNotBeNull().Op.ShouldBe(g.FindNode("act")!.Op);
                    using var session = OnnxRuntimeSession.FromBytes(bytes, "act.onnx");
                    var flat = GraphModule.FromTensor(input);
                    var (ort, shape) = session.Run(flat.Floats, flat.Shape);
                    shape.ShouldBe([2L, 2L, 6L, 6L]);
                    var ours = GraphModule.FromTensor(run["y"]).Floats;
                    for (int i = 0; i < ours.Length; i++) Math.Abs(ort[i] - ours[i]).ShouldBeLessThan(1e-5f * Math.Max(1f, Math.Abs(ours[i])), op);
                }
            }
            m.train();
            m.forward(input).sum().backward();
            m.Tensor("conv1.weight").grad.ShouldNotBeNull().abs().sum().item<float>().ShouldBeGreaterThan(0f);
        }

        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        if (!prunable)
        {
            group.Prunable.ShouldBeFalse();
            group.BlockedReason.ShouldNotBeNull().ShouldContain("'act'");
            return;
        }
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1L, 3L] };
        var pruned = StructuredPruner.Prune(deps, remove);
        pruned.Initializers["conv2.weight"].Shape.ShouldBe([2L, 2L, 1L, 1L]);
        PrunedVersusZeroed.MaxDifference(deps, remove, input).ShouldBeLessThan(1e-6f);
    }

    [Fact]
    public void Softplus_written_out_Mish_prunes_because_the_product_makes_a_removed_channel_zero()
    {
        var b = new GraphBuilder("mish", 3, 6, 6, seed: 5);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        var sp = b.Add("sp", OpKind.Softplus, [conv1]);
        var th = b.Add("th", OpKind.Tanh, [sp]);
        var mish = b.Add("mish", OpKind.Mul, [conv1, th]);
        var g = b.Build(b.Conv(mish, "conv2", 2, 1), "y");
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [0L, 2L] };
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 6, 6, generator: new Generator(3));
        PrunedVersusZeroed.MaxDifference(deps, remove, input).ShouldBeLessThan(1e-6f);
    }
}
