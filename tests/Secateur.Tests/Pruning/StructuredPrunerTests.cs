using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

public sealed class StructuredPrunerTests
{
    public static TheoryData<string, long, long, long> Models => new()
    {
        { "lenet5", 1, 28, 28 }, { "vgg11", 1, 28, 28 }, { "resnet20", 1, 28, 28 }, { "resnet56", 1, 28, 28 },
        { "mobilenetv2", 1, 28, 28 }, { "resnet18", 3, 32, 32 }, { "resnet50", 3, 32, 32 }, { "mobilenetv2-imagenet", 3, 32, 32 },
        { "vgg16", 1, 28, 28 },
    };

    private static ModelGraph Randomised(string name, long c, long h, long w)
    {
        var g = ModelZoo.Create(name, new ZooOptions(c, h, w, 10, Seed: 3));
        // Non-trivial BN parameters and statistics, so that a wrong slice shows.
        var rng = new Random(5);
        foreach (var n in g.Nodes.Where(n => n.Op == OpKind.BatchNormalization))
            for (int i = 1; i <= 4; i++)
            {
                var t = g.Initializers[n.Inputs[i]].Floats;
                for (int k = 0; k < t.Length; k++) t[k] = i == 4 ? 0.5f + (float)rng.NextDouble() : (float)(rng.NextDouble() - 0.5);
            }
        return g;
    }

    private static Dictionary<PruningGroup, IReadOnlyCollection<long>> RandomChoice(DependencyGraph deps, double ratio, int seed)
    {
        var rng = new Random(seed);
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>>();
        foreach (var g in deps.Prunable)
        {
            int k = (int)Math.Min(g.Channels - 1, Math.Round(g.Channels * ratio));
            var all = Enumerable.Range(0, (int)g.Channels).Select(i => (long)i).ToArray();
            rng.Shuffle(all);
            choice[g] = all.Take(k).ToArray();
        }
        return choice;
    }

    private static Tensor Output(ModelGraph g, Tensor x)
    {
        using var m = new GraphModule(g);
        m.eval();
        using (no_grad()) return m.forward(x).detach().clone();
    }

    [Theory]
    [MemberData(nameof(Models))]
    [Trait("Category", TestCategories.Slow)]
    public void Pruned_model_equals_the_original_with_those_channels_zeroed(string name, long c, long h, long w)
    {
        var g = Randomised(name, c, h, w);
        var deps = DependencyGraph.Build(g);
        deps.Prunable.ShouldNotBeEmpty();
        var choice = RandomChoice(deps, 0.4, 11);
        var pruned = StructuredPruner.Prune(deps, choice);
        var zeroed = StructuredPruner.ZeroOut(deps, choice);
        using var scope = NewDisposeScope();
        var x = randn(2, c, h, w, generator: new Generator(7));
        var a = Output(pruned, x);
        var b = Output(zeroed, x);
        float scale = Math.Max(1f, b.abs().max().item<float>());
        ((a - b).abs().max().item<float>() / scale).ShouldBeLessThan(1e-5f);
        ModelStats.Compute(pruned).Params.ShouldBeLessThan(ModelStats.Compute(g).Params);
        g.Outputs[0].Dims[^1].Value.ShouldBe(pruned.Outputs[0].Dims[^1].Value);
    }

    [Theory]
    [InlineData("resnet20")]
    [InlineData("mobilenetv2")]
    [Trait("Category", TestCategories.Slow)]
    public void Zero_ratio_pruning_is_bit_identical(string name)
    {
        var g = Randomised(name, 1, 28, 28);
        var deps = DependencyGraph.Build(g);
        var pruned = StructuredPruner.Prune(deps, deps.Prunable.ToDictionary(p => p, _ => (IReadOnlyCollection<long>)[]));
        Secateur.Onnx.OnnxSerializer.ToBytes(pruned).ShouldBe(Secateur.Onnx.OnnxSerializer.ToBytes(g));
    }

    [Fact]
    public void Resnet20_groups_follow_the_residual_stages()
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("resnet20"));
        // One group per block's first conv (9) + one per stage's residual chain (3); fc's outputs and the input are blocked.
        deps.Prunable.Count().ShouldBe(12);
        var stage1 = deps.Prunable.Single(g => g.Producers.Contains("conv1"));
        stage1.Producers.ShouldBe(["conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"], ignoreOrder: true);
        stage1.Slices.ShouldContain(s => s.Node == "layer2.0.downsample.0" && s.Role == SliceRole.Consumer);
        deps.Groups.Where(g => !g.Prunable).ShouldContain(g => g.BlockedReason!.Contains("graph output"));
    }

    [Fact]
    public void Flatten_into_linear_removes_h_times_w_columns_per_channel()
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("lenet5"));
        var conv2 = deps.Prunable.Single(g => g.Producers.Contains("conv2"));
        conv2.Slices.Single(s => s.Node == "fc1").Factor.ShouldBe(25);
        var pruned = StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [conv2] = [0, 5] });
        pruned.Initializers["fc1.weight"].Shape.ShouldBe([120L, 14 * 25]);
        pruned.Initializers["conv2.weight"].Shape.ShouldBe([14L, 6, 5, 5]);
    }

    [Fact]
    public void Concat_offsets_and_grouped_convolutions()
    {
        var b = new GraphBuilder("cat", 3, 8, 8);
        var left = b.Relu(b.BatchNorm(b.Conv(b.Input, "left", 4, 3, pad: 1), "left_bn"));
        var right = b.Relu(b.Conv(b.Input, "right", 6, 1));
        var joined = b.Add("cat", OpKind.Concat, [left, right], ("axis", AttributeValue.Of(1L)));
        var dw = b.Conv(joined, "dw", 10, 3, pad: 1, groups: 10, bias: true);
        var grouped = b.Conv(dw, "grouped", 4, 1, groups: 2);
        var g = b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(grouped)), "fc", 3));
        var deps = DependencyGraph.Build(g);
        // The grouped conv reads a Concat: its parts cannot be cut in step with the conv groups, so they are blocked.
        deps.Groups.Single(x => x.Producers.Contains("left")).BlockedReason!.ShouldContain("grouped convolution 'grouped'");
        // Its own output is prunable in blocks of 4 / 2 groups (this asserted "blocked" before grouped pruning).
        var groupedOut = deps.Groups.Single(x => x.Values.Contains("grouped"));
        groupedOut.Prunable.ShouldBeTrue();
        groupedOut.Period.ShouldBe(2);

        // Without the grouped conv, concat halves are prunable with offsets into dw and fc.
        var b2 = new GraphBuilder("cat2", 3, 8, 8);
        var l2 = b2.Relu(b2.BatchNorm(b2.Conv(b2.Input, "left", 4, 3, pad: 1), "left_bn"));
        var r2 = b2.Relu(b2.Conv(b2.Input, "right", 6, 1));
        var j2 = b2.Add("cat", OpKind.Concat, [l2, r2], ("axis", AttributeValue.Of(1L)));
        var d2 = b2.BatchNorm(b2.Conv(j2, "dw", 10, 3, pad: 1, groups: 10, bias: true), "dw_bn");
        var g2 = b2.Build(b2.Linear(b2.Flatten(b2.GlobalAvgPool(d2)), "fc", 3));
        var deps2 = DependencyGraph.Build(g2);
        var right2 = deps2.Prunable.Single(x => x.Producers.Contains("right"));
        right2.Slices.Single(s => s.Node == "dw" && s.Tensor == "dw.weight").Offset.ShouldBe(4);
        right2.Slices.Single(s => s.Node == "fc").Offset.ShouldBe(4);
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [right2] = [1, 4], [deps2.Prunable.Single(x => x.Producers.Contains("left"))] = [0] };
        var pruned = StructuredPruner.Prune(deps2, choice);
        pruned.Initializers["dw.weight"].Shape.ShouldBe([7L, 1, 3, 3]);
        pruned.FindNode("dw")!.Int("group", 0).ShouldBe(7);
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8, generator: new Generator(1));
        var a = Output(pruned, x);
        var z = Output(StructuredPruner.ZeroOut(deps2, choice), x);
        (a - z).abs().max().item<float>().ShouldBeLessThan(1e-5f);
    }

    /// <summary>conv (3→8) → grouped conv (8→8, 4 groups) → conv (8→6) → linear: a grouped convolution between prunable layers.</summary>
    private static ModelGraph GroupedNet()
    {
        var b = new GraphBuilder("grouped", 3, 8, 8, seed: 2);
        var a = b.Relu(b.Conv(b.Input, "a", 8, 3, pad: 1, bias: true));
        var grouped = b.Relu(b.Conv(a, "grouped", 8, 3, pad: 1, groups: 4, bias: true));
        var c = b.Relu(b.Conv(grouped, "c", 6, 1));
        return b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(c)), "fc", 3));
    }

    [Fact]
    public void A_ratio_0_prune_leaves_a_grouped_convolution_unchanged()
    {
        // Ratio 0 must change nothing: before the fix, Conv's group was reset to its filter count (8 instead of 4).
        var g = GroupedNet();
        var result = Pruner.Prune(g, Importances.Create("l1"), new PruningOptions { Target = new PruningTarget { Ratio = 0 } });
        result.Pruned.FindNode("grouped")!.Int("group", 0).ShouldBe(4);
        Secateur.Onnx.OnnxSerializer.ToBytes(result.Pruned).AsSpan().SequenceEqual(Secateur.Onnx.OnnxSerializer.ToBytes(g)).ShouldBeTrue();
    }

    [Fact]
    public void A_grouped_convolution_loses_the_same_positions_in_every_group_and_equals_the_zeroed_original()
    {
        var g = GroupedNet();
        var deps = DependencyGraph.Build(g);
        var input = deps.Prunable.Single(x => x.Producers.Contains("a"));    // read by 4 groups of 2
        var output = deps.Prunable.Single(x => x.Producers.Contains("grouped")); // written by 4 groups of 2
        (input.Period, input.Blocks, output.Period, output.Blocks).ShouldBe((2L, 4L, 2L, 4L));
        // Position 1 of every group of the input, position 0 of every group of the output.
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [input] = input.InEveryBlock([1]), [output] = output.InEveryBlock([0]) };
        choice[input].ShouldBe([1L, 3, 5, 7]);
        var pruned = StructuredPruner.Prune(deps, choice);
        pruned.Initializers["grouped.weight"].Shape.ShouldBe([4L, 1, 3, 3]);
        pruned.FindNode("grouped")!.Int("group", 0).ShouldBe(4);
        using (var scope = NewDisposeScope())
        {
            var x = randn(2, 3, 8, 8, generator: new Generator(3));
            // Tolerance 1e-5: the same sums in another order.
            (Output(pruned, x) - Output(StructuredPruner.ZeroOut(deps, choice), x)).abs().max().item<float>().ShouldBeLessThan(1e-5f);
        }
        // Unequal groups would make an invalid convolution: refused, naming the rule.
        Should.Throw<SecateurException>(() => StructuredPruner.Prune(deps,
            new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [input] = [1, 3] })).Message.ShouldContain("same positions in every block");
        // Allocation removes whole positions: a 2x speed-up plan is admissible for every group.
        var plan = Pruner.Prune(g, Importances.Create("l1"), new PruningOptions { Target = new PruningTarget { Ratio = 0.5 } });
        plan.Pruned.FindNode("grouped")!.Int("group", 0).ShouldBe(4);
        plan.Pruned.Initializers["grouped.weight"].Shape.ShouldBe([4L, 1, 3, 3]);
        // Global ranking and a MACs target too: every group keeps a multiple of 4 channels (whole positions per conv group).
        var global = Pruner.Prune(g, Importances.Create("l2"), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 1.5 },
            Allocation = new AllocationOptions(AllocationKind.Global),
        });
        global.Speedup.ShouldBeGreaterThanOrEqualTo(1.5 - 1e-9);
        var w = global.Pruned.Initializers["grouped.weight"].Shape;
        (w[0] % 4).ShouldBe(0);
        global.Pruned.Initializers["a.weight"].Shape[0].ShouldBe(w[1] * 4);
        global.Pruned.FindNode("grouped")!.Int("group", 0).ShouldBe(4);
    }

    [Fact]
    public void Reshape_that_mixes_channels_blocks_its_groups()
    {
        var b = new GraphBuilder("mix", 1, 4, 4);
        var x = b.Relu(b.Conv(b.Input, "conv", 8, 3, pad: 1));
        var shape = b.Initializer("shape", TensorData.FromLongs([0, 4, 2, 16], 4));
        var r = b.Add("shuffle", OpKind.Reshape, [x, shape]);
        var g = b.Build(b.Linear(b.Flatten(r), "fc", 2));
        var deps = DependencyGraph.Build(g);
        deps.Groups.Single(x => x.Producers.Contains("conv")).BlockedReason!.ShouldContain("'shuffle'");
        Should.Throw<SecateurException>(() => StructuredPruner.Prune(deps,
            new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [deps.Groups.Single(x => x.Producers.Contains("conv"))] = [0] })).Code.ShouldBe(ErrorCode.ImpossibleTarget);
    }

    [Fact]
    public void A_channel_shuffle_is_blocked_with_the_reason_it_cannot_be_followed()
    {
        var b = new GraphBuilder("shuffle", 1, 4, 4);
        var x = b.Relu(b.Conv(b.Input, "conv", 8, 3, pad: 1));
        var r = b.Add("split_groups", OpKind.Reshape, [x, b.Initializer("to5", TensorData.FromLongs([0, 2, 4, 4, 4], 5))]);
        var t = b.Add("swap", OpKind.Transpose, [r], ("perm", AttributeValue.Of(0L, 2, 1, 3, 4)));
        var back = b.Add("merge_groups", OpKind.Reshape, [t, b.Initializer("to4", TensorData.FromLongs([0, 8, 4, 4], 4))]);
        var deps = DependencyGraph.Build(b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(back)), "fc", 2)));
        var why = deps.Groups.Single(g => g.Producers.Contains("conv")).BlockedReason!;
        why.ShouldContain("'split_groups' (Reshape) regroups the channel axis: it starts a channel shuffle of 2 groups");
        why.ShouldContain("only if every group loses the same positions");
    }

    [Fact]
    public void Emptying_a_group_is_refused()
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("lenet5"));
        var conv1 = deps.Prunable.Single(g => g.Producers.Contains("conv1"));
        Should.Throw<SecateurException>(() => StructuredPruner.Prune(deps,
            new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [conv1] = [0, 1, 2, 3, 4, 5] })).Code.ShouldBe(ErrorCode.ImpossibleTarget);
    }

    [Theory]
    [InlineData(1L)] // 1×1 kernels: element loop
    [InlineData(9L)] // 3×3 kernels: element loop
    [InlineData(20L)] // long rows: block copies
    public void Removing_several_axes_in_one_pass_equals_removing_them_one_after_another(long inner)
    {
        var rng = new Random(11);
        var data = TensorData.FromFloats(Enumerable.Range(0, (int)(6 * 5 * inner)).Select(_ => (float)rng.NextDouble()).ToArray(), 6, 5, inner);
        var rows = new HashSet<long> { 0, 3, 4 };
        var columns = new HashSet<long> { 1, 4 };
        var once = StructuredPruner.Remove(data, new Dictionary<int, IReadOnlySet<long>> { [0] = rows, [1] = columns });
        var twice = StructuredPruner.Remove(StructuredPruner.Remove(data, 0, rows), 1, columns);
        once.Shape.ShouldBe([3L, 3L, inner]);
        once.Floats.ShouldBe(twice.Floats);
        // Element (1, 2, e) of the result is element (kept row 1 = 2, kept column 2 = 3, e) of the original.
        once.Floats[(1 * 3 + 2) * (int)inner].ShouldBe(data.Floats[(2 * 5 + 3) * (int)inner]);
    }
}
