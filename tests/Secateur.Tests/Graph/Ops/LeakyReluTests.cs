using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Graph.Ops;

/// <summary>LeakyRelu, added as one definition, one kernel entry and this test: it loads, runs, saves and prunes.</summary>
public sealed class LeakyReluTests
{
    private const float Alpha = 0.2f;

    [Fact]
    public void LeakyRelu_round_trips_through_onnx_computes_its_formula_and_lets_channels_be_pruned_across_it()
    {
        var b = new GraphBuilder("leaky", 3, 6, 6, seed: 4);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        var leaky = b.Add("leaky", OpKind.LeakyRelu, [conv1], ("alpha", AttributeValue.Of(Alpha)));
        var conv2 = b.Conv(leaky, "conv2", 2, 1);
        var bytes = OnnxSerializer.ToBytes(b.Build(conv2, "y"));
        // Imported from the ONNX file by op type, alpha kept.
        var g = OnnxSerializer.FromBytes(bytes, "leaky.onnx");
        g.FindNode("leaky").ShouldNotBeNull().Op.ShouldBe(OpKind.LeakyRelu);
        g.FindNode("leaky")!.Float("alpha", 0).ShouldBe(Alpha);

        using var scope = NewDisposeScope();
        var x = randn(2, 3, 6, 6, generator: new Generator(7));
        var input = GraphModule.FromTensor(x);
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = x }, capture: [conv1, leaky]);
                var before = GraphModule.FromTensor(run[conv1]).Floats;
                var after = GraphModule.FromTensor(run[leaky]).Floats;
                before.ShouldContain(v => v < 0);
                for (int i = 0; i < before.Length; i++)
                    Math.Abs(after[i] - (before[i] >= 0 ? before[i] : Alpha * before[i])).ShouldBeLessThan(1e-6f);
                // ONNX Runtime reads the saved file the same way.
                using var session = OnnxRuntimeSession.FromBytes(bytes, "leaky.onnx");
                var (ort, shape) = session.Run(input.Floats, input.Shape);
                shape.ShouldBe([2L, 2L, 6L, 6L]);
                var ours = GraphModule.FromTensor(run["y"]).Floats;
                for (int i = 0; i < ours.Length; i++) Math.Abs(ort[i] - ours[i]).ShouldBeLessThan(1e-5f);
            }
            // It trains too: gradients reach the first convolution through the negative slope.
            m.train();
            m.forward(x).sum().backward();
            m.Tensor("conv1.weight").grad.ShouldNotBeNull().abs().sum().item<float>().ShouldBeGreaterThan(0f);
        }

        // Channel pass-through: conv1's output channels are one prunable group that conv2 consumes.
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        group.Slices.ShouldContain(s => s.Node == "conv2" && s.Role == SliceRole.Consumer);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1L, 3L] };
        var pruned = StructuredPruner.Prune(deps, remove);
        pruned.Initializers["conv2.weight"].Shape.ShouldBe([2L, 2L, 1L, 1L]);
        // LeakyRelu maps 0 to 0, so zeroing the channels and removing them give the same output.
        PrunedVersusZeroed.MaxDifference(deps, remove, x).ShouldBeLessThan(1e-6f);
    }
}
