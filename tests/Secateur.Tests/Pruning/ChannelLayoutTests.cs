using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Tests.Graph.Ops;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

/// <summary>
/// Channels the dependency graph follows beyond one whole axis 1 (issue 12): sub-ranges a Slice takes (YOLO's C2f
/// <c>chunk</c>), residuals that add a chunk to a whole, and channels a Transpose moved last (ConvNeXt's MLP). Each
/// prune is proven by pruned ≡ zeroed within 1e-5 on a small synthetic graph.
/// </summary>
public sealed class ChannelLayoutTests
{
    private static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx-coverage");

    private static PruningGroup Group(DependencyGraph deps, string name) => deps.Groups.Single(g => g.Name == name);

    private static float Difference(DependencyGraph deps, Dictionary<PruningGroup, IReadOnlyCollection<long>> remove, long channels = 3, long size = 6)
    {
        using var scope = NewDisposeScope();
        return PrunedVersusZeroed.MaxDifference(deps, remove, randn(2, channels, size, size, generator: new Generator(3)));
    }

    private static long[] Longs(ModelGraph g, string name) => g.Initializers[name].Longs;

    /// <summary>A C2f block: one conv, its output cut in two chunks, a conv on the second, all three concatenated.</summary>
    private static ModelGraph C2f(long channels = 3, long size = 6, bool classifier = false)
    {
        var b = new GraphBuilder("c2f", channels, size, size, seed: 1);
        var x = b.Relu(b.Conv(b.Input, "conv1", 8, 1, bias: true));
        var a = b.SliceChannels(x, 0, 3, "chunk0");
        var c = b.SliceChannels(x, 3, 8, "chunk1");
        var m = b.Relu(b.Conv(c, "convm", 5, 3, pad: 1, bias: true));
        var y = b.Conv(b.Concat([a, c, m], "cat"), "conv2", 6, 1, bias: true);
        return classifier ? b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(y)), "fc", 10)) : b.Build(y, "y");
    }

    [Fact]
    public void A_chunk_of_the_channels_is_a_group_of_its_own_and_its_range_follows_the_prune()
    {
        var deps = DependencyGraph.Build(C2f());
        var first = Group(deps, "conv1[0:3]");
        var second = Group(deps, "conv1[3:8]");
        (first.Prunable, second.Prunable, first.Channels, second.Channels).ShouldBe((true, true, 3L, 5L));
        // The second chunk is read twice: by convm and, through the Concat, by conv2 after the first chunk.
        second.Slices.Where(s => s.Role == SliceRole.Consumer).Select(s => (s.Node, s.Offset)).ShouldBe([("convm", 0L), ("conv2", 3L)], ignoreOrder: true);
        second.Slices.Single(s => s.Role == SliceRole.Producer && s.Tensor == "conv1.weight").Offset.ShouldBe(3);
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>>
        {
            [first] = [1],
            [second] = [0, 3],
            [Group(deps, "convm")] = [2],
        };
        Difference(deps, remove).ShouldBeLessThan(1e-5f);
        var pruned = StructuredPruner.Prune(deps, remove);
        // conv1 keeps 2 + 3 channels: the chunks are [0, 2) and [2, 5) of them.
        var slices = pruned.Nodes.Where(n => n.Op == OpKind.Slice).ToDictionary(n => n.Name, n => (Longs(pruned, n.Inputs[1])[0], Longs(pruned, n.Inputs[2])[0]));
        slices["chunk0"].ShouldBe((0L, 2L));
        slices["chunk1"].ShouldBe((2L, 5L));
        // The old ranges no node reads any more are gone; the constants nothing changed are kept as they were.
        pruned.Initializers.Keys.ShouldNotContain(k => k.EndsWith(".starts", StringComparison.Ordinal) || k.EndsWith(".ends", StringComparison.Ordinal));
        pruned.Initializers.ContainsKey("chunk0.axes").ShouldBeTrue();
        ShapeInference.Infer(pruned, 1)["cat"][1].ShouldBe(2 + 3 + 4);
    }

    [Fact]
    public void Nothing_removed_leaves_every_slice_as_it_was()
    {
        var g = C2f();
        var pruned = StructuredPruner.Prune(DependencyGraph.Build(g), new Dictionary<PruningGroup, IReadOnlyCollection<long>>());
        OnnxSerializer.ToBytes(pruned).AsSpan().SequenceEqual(OnnxSerializer.ToBytes(g)).ShouldBeTrue();
    }

    [Fact]
    public void A_residual_that_adds_chunks_to_a_whole_cuts_the_whole_in_the_same_places()
    {
        var b = new GraphBuilder("cut", 3, 6, 6, seed: 2);
        var x = b.Conv(b.Input, "conv1", 8, 1, bias: true);
        var p0 = b.SliceChannels(x, 0, 4, "p0");
        var z = b.Conv(b.SliceChannels(x, 4, 8, "p1"), "conv2", 4, 3, pad: 1, bias: true);
        var w = b.Concat([p0, z], "cat");
        var y = b.Conv(b.Input, "conv3", 8, 3, pad: 1, bias: true);
        var g = b.Build(b.Conv(b.Relu(b.AddValues(w, y, "add")), "conv4", 3, 1, bias: true), "out");
        var deps = DependencyGraph.Build(g);
        // conv3's channels 0-3 are added to conv1's first chunk, 4-7 to conv2's output: two groups, each tied to its partner.
        var head = deps.Groups.Single(gr => gr.Producers.Contains("conv3") && gr.Producers.Contains("conv1"));
        var tail = deps.Groups.Single(gr => gr.Producers.Contains("conv3") && gr.Producers.Contains("conv2"));
        (head.Channels, tail.Channels, head.Prunable, tail.Prunable).ShouldBe((4L, 4L, true, true));
        tail.Slices.Single(s => s.Node == "conv3" && s.Tensor == "conv3.weight").Offset.ShouldBe(4);
        var inner = Group(deps, "conv1[4:8]");
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [head] = [0, 2], [tail] = [3], [inner] = [1] };
        Difference(deps, remove).ShouldBeLessThan(1e-5f);
        var pruned = StructuredPruner.Prune(deps, remove);
        pruned.Initializers["conv3.weight"].Shape[0].ShouldBe(5);
        pruned.Initializers["conv1.weight"].Shape[0].ShouldBe(5);
    }

    [Fact]
    public void A_slice_in_steps_along_the_channels_blocks_with_its_reason()
    {
        var b = new GraphBuilder("step", 3, 4, 4, seed: 3);
        var x = b.Conv(b.Input, "conv1", 6, 1);
        var s = b.Add("every2", OpKind.Slice, [x, b.Initializer("s", TensorData.FromLongs([0], 1)), b.Initializer("e", TensorData.FromLongs([6], 1)),
            b.Initializer("a", TensorData.FromLongs([1], 1)), b.Initializer("st", TensorData.FromLongs([2], 1))]);
        var deps = DependencyGraph.Build(b.Build(b.Conv(s, "conv2", 2, 1), "y"));
        deps.Groups.Single(g => g.Producers.Contains("conv1")).BlockedReason.ShouldBe("'every2' (Slice) takes every 2th channel");
    }

    /// <summary>
    /// A ConvNeXt block: depthwise conv, Permute to channels last, LayerNorm over the channels, Linear (MatMul + Add) to
    /// 4× width, GELU, Linear back, layer scale, Permute back, residual.
    /// </summary>
    private static ModelGraph ConvNeXtBlock(bool geluAsErf, long channels = 3, long size = 5, bool classifier = false)
    {
        var b = new GraphBuilder("cnblock", channels, size, size, seed: 4);
        var rng = new Random(9);
        TensorData Random(params long[] shape) =>
            TensorData.FromFloats(Enumerable.Range(0, (int)TensorData.ElementCount(shape)).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), shape);
        var x = b.Conv(b.Input, "stem", 4, 1, bias: true);
        var dw = b.Conv(x, "dwconv", 4, 3, pad: 1, groups: 4, bias: true);
        var last = b.Add("permute", OpKind.Transpose, [dw], ("perm", AttributeValue.Of(0L, 2L, 3L, 1L)));
        var ln = b.Add("norm", OpKind.LayerNormalization, [last, b.Initializer("norm.weight", Random(4)), b.Initializer("norm.bias", Random(4))],
            ("axis", AttributeValue.Of(-1L)), ("epsilon", AttributeValue.Of(1e-6f)));
        var h = b.Add("pw1.add", OpKind.Add, [b.Add("pw1", OpKind.MatMul, [ln, b.Initializer("pw1.weight", Random(4, 12))]), b.Initializer("pw1.bias", Random(12))]);
        string gelu;
        if (geluAsErf)
        {
            // x · 0.5 · (1 + erf(x / √2)), as PyTorch exports nn.GELU below opset 20.
            var erf = b.Add("gelu.erf", OpKind.Erf, [b.Add("gelu.div", OpKind.Div, [h, b.Initializer("sqrt2", TensorData.FromFloats([MathF.Sqrt(2f)], []))])]);
            var one = b.Add("gelu.add", OpKind.Add, [erf, b.Initializer("one", TensorData.FromFloats([1f], []))]);
            gelu = b.Add("gelu", OpKind.Mul, [b.Add("gelu.mul", OpKind.Mul, [h, one]), b.Initializer("half", TensorData.FromFloats([0.5f], []))]);
        }
        else gelu = b.Add("gelu", OpKind.Gelu, [h]);
        var o = b.Add("pw2.add", OpKind.Add, [b.Add("pw2", OpKind.MatMul, [gelu, b.Initializer("pw2.weight", Random(12, 4))]), b.Initializer("pw2.bias", Random(4))]);
        var scaled = b.Add("scale", OpKind.Mul, [o, b.Initializer("gamma", Random(4))]);
        var back = b.Add("permute_back", OpKind.Transpose, [scaled], ("perm", AttributeValue.Of(0L, 3L, 1L, 2L)));
        var y = b.Conv(b.AddValues(back, x, "residual"), "head", 2, 1, bias: true);
        return classifier ? b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(y)), "fc", 10)) : b.Build(y, "y");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_hidden_width_of_a_channels_last_MLP_prunes_and_the_stream_through_the_layer_norm_stays_blocked(bool geluAsErf)
    {
        var deps = DependencyGraph.Build(ConvNeXtBlock(geluAsErf));
        var hidden = Group(deps, "pw1");
        hidden.Prunable.ShouldBeTrue();
        hidden.Channels.ShouldBe(12);
        hidden.Slices.Select(s => (s.Tensor, s.Axis, s.Role)).ShouldBe(
            [("pw1.weight", 1, SliceRole.Producer), ("pw1.bias", 0, SliceRole.PerChannel), ("pw2.weight", 0, SliceRole.Consumer)], ignoreOrder: true);
        // The residual stream passes through the norm: its statistics are over the channels, so none of them can go.
        deps.Groups.Single(g => g.Producers.Contains("stem")).BlockedReason.ShouldBe(
            "'norm' (LayerNormalization) normalises across channels: removing one changes the mean and variance of the others");
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [hidden] = [1, 5, 6, 10] };
        Difference(deps, remove, size: 5).ShouldBeLessThan(1e-5f);
        var pruned = StructuredPruner.Prune(deps, remove);
        pruned.Initializers["pw1.weight"].Shape.ShouldBe([4L, 8L]);
        pruned.Initializers["pw2.weight"].Shape.ShouldBe([8L, 4L]);
    }

    [Fact]
    public void A_matmul_reading_an_axis_other_than_the_channels_blocks_with_its_reason()
    {
        var b = new GraphBuilder("mm", 3, 4, 4, seed: 5);
        var x = b.Conv(b.Input, "conv1", 6, 1);
        var w = b.Add("mm", OpKind.MatMul, [x, b.Initializer("w", TensorData.Filled(0.5f, 4, 4))]); // mixes along W
        var deps = DependencyGraph.Build(b.Build(b.Conv(w, "conv2", 2, 1), "y"));
        deps.Groups.Single(g => g.Producers.Contains("conv1")).BlockedReason.ShouldBe("'mm' (MatMul) reads axis 3, but the channels are on axis 1");
    }

    [Fact]
    public void Every_convnext_mlp_hidden_width_is_prunable_and_nothing_else_in_its_stream()
    {
        foreach (var file in new[] { "convnext_tiny.fold.op17.onnx", "convnext_tiny.fold.op13.onnx" })
        {
            var graph = OnnxSerializer.Load(Path.Combine(FixtureDir, file));
            var deps = DependencyGraph.Build(graph);
            var blocks = graph.Nodes.Count(n => n.Op == OpKind.MatMul) / 2;
            blocks.ShouldBeGreaterThan(0);
            deps.Prunable.Count().ShouldBe(blocks, file);
            deps.Prunable.ShouldAllBe(g => g.Name.EndsWith("block.3/MatMul", StringComparison.Ordinal), file);
        }
    }

    [Fact]
    public void The_zoo_detector_prunes_through_its_c2f_chunks()
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("yolo-tiny"));
        var chunks = deps.Groups.Where(g => g.Name.Contains('[', StringComparison.Ordinal)).ToList();
        chunks.Count.ShouldBeGreaterThan(0);
        chunks.ShouldAllBe(g => g.Prunable);
        deps.Groups.ShouldNotContain(g => !g.Prunable && g.BlockedReason!.Contains("Slice", StringComparison.Ordinal));
    }

    public static TheoryData<string> Criteria() => new(Importances.Names);

    [Theory]
    [MemberData(nameof(Criteria))]
    public void Every_criterion_scores_chunks_and_channels_last_layers_and_the_prune_stays_exact(string criterion)
    {
        // Fashion-MNIST's 1×28×28 images and labels (a classifier head) feed the data-driven criteria; activations are read
        // on the axis carrying the channels.
        var data = new ImportanceContext(DataSource.Resolve("embedded").TrainLoader(16, seed: 1, augment: false), MaxBatches: 1);
        foreach (var graph in new[] { ConvNeXtBlock(geluAsErf: true, 1, 28, classifier: true), C2f(1, 28, classifier: true) })
        {
            var deps = DependencyGraph.Build(graph);
            var scores = Importances.Create(criterion).Score(deps, data);
            scores.Keys.ShouldBe(deps.Prunable, ignoreOrder: true);
            foreach (var (group, s) in scores)
            {
                s.Length.ShouldBe((int)group.Channels, $"{criterion}: {group}");
                s.ShouldAllBe(v => float.IsFinite(v), $"{criterion}: {group}");
            }
            var plan = Allocation.Plan(deps, deps.Prunable.ToList(), scores, new PruningTarget { Ratio = 0.4 }, new AllocationOptions { RoundTo = 1 }, null, null);
            plan.Remove.Values.Sum(r => r.Count).ShouldBeGreaterThan(0, criterion);
            Difference(deps, plan.Remove.ToDictionary(kv => kv.Key, kv => kv.Value), channels: 1, size: 28).ShouldBeLessThan(1e-5f, criterion);
        }
    }
}
