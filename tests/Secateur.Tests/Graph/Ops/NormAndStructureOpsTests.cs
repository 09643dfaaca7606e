using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Graph.Ops;

/// <summary>
/// PRelu, Sum/Max/Min, GlobalMaxPool, the norms and DepthToSpace/SpaceToDepth of issue 12: each against a formula
/// written here (1e-6, or 1e-5 for the norms' divided statistics), against ONNX Runtime on the saved file (1e-5) where
/// Secateur can save the op, and with the channel rule its definition documents.
/// </summary>
public sealed class NormAndStructureOpsTests
{
    private static float[] Floats(Tensor t) => GraphModule.FromTensor(t).Floats;

    private static (float[] Ours, float[] Ort) RunBoth(ModelGraph g, Tensor input)
    {
        using var m = new GraphModule(g);
        m.eval();
        using var _ = no_grad();
        var ours = Floats(m.forward(input));
        var bytes = OnnxSerializer.ToBytes(g);
        using var session = OnnxRuntimeSession.FromBytes(bytes, g.Name + ".onnx");
        var flat = GraphModule.FromTensor(input);
        return (ours, session.Run(flat.Floats, flat.Shape).Output);
    }

    private static void Close(float[] actual, float[] expected, float tolerance, string what)
    {
        actual.Length.ShouldBe(expected.Length, what);
        for (int i = 0; i < actual.Length; i++) Math.Abs(actual[i] - expected[i]).ShouldBeLessThan(tolerance * Math.Max(1f, Math.Abs(expected[i])), what);
    }

    private static void PrunedEqualsZeroed(DependencyGraph deps, PruningGroup group, Tensor input, params long[] channels)
    {
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = channels };
        PrunedVersusZeroed.MaxDifference(deps, remove, input).ShouldBeLessThan(1e-5f);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PRelu_applies_its_slope_per_channel_or_shared_and_pruning_slices_a_per_channel_slope(bool perChannel)
    {
        var b = new GraphBuilder("prelu", 3, 5, 5, seed: 2);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        float[] slopes = perChannel ? [0.1f, -0.3f, 0.5f, 2f] : [0.25f];
        var slope = b.Initializer("slope", TensorData.FromFloats(slopes, perChannel ? [4L, 1, 1] : [1L]));
        var act = b.Add("prelu", OpKind.PRelu, [conv1, slope]);
        var g = b.Build(b.Conv(act, "conv2", 2, 1), "y");
        g.ParameterNames().ShouldContain("slope");
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 5, 5, generator: new Generator(1));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [conv1, act]);
                var x = Floats(run[conv1]);
                var y = Floats(run[act]);
                for (int i = 0; i < x.Length; i++)
                {
                    float s = slopes[perChannel ? i / 25 % 4 : 0];
                    Math.Abs(y[i] - (x[i] >= 0 ? x[i] : s * x[i])).ShouldBeLessThan(1e-6f);
                }
            }
        }
        var (ours, ort) = RunBoth(g, input);
        Close(ours, ort, 1e-5f, "PRelu vs ONNX Runtime");

        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        group.Slices.Any(s => s.Tensor == "slope").ShouldBe(perChannel);
        if (perChannel)
            StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1L] })
                .Initializers["slope"].Floats.ShouldBe([0.1f, 0.5f, 2f]);
        PrunedEqualsZeroed(deps, group, input, 1, 2);
    }

    [Theory]
    [InlineData(OpKind.Sum)]
    [InlineData(OpKind.Max)]
    [InlineData(OpKind.Min)]
    public void Variadic_ops_combine_three_operands_and_tie_their_channels(OpKind op)
    {
        var b = new GraphBuilder("var", 3, 4, 4, seed: 3);
        var p = b.Conv(b.Input, "p", 4, 3, 1, 1, bias: true);
        var q = b.Conv(b.Input, "q", 4, 3, 1, 1, bias: true);
        var r = b.Conv(b.Input, "r", 4, 1, bias: true);
        var v = b.Add("v", op, [p, q, r]);
        var g = b.Build(b.Conv(v, "out", 2, 1), "y");
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4, generator: new Generator(5));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [p, q, r, v]);
                var (a, c, d, y) = (Floats(run[p]), Floats(run[q]), Floats(run[r]), Floats(run[v]));
                for (int i = 0; i < y.Length; i++)
                {
                    float expected = op switch
                    {
                        OpKind.Sum => a[i] + c[i] + d[i],
                        OpKind.Max => Math.Max(a[i], Math.Max(c[i], d[i])),
                        _ => Math.Min(a[i], Math.Min(c[i], d[i])),
                    };
                    Math.Abs(y[i] - expected).ShouldBeLessThan(1e-6f);
                }
            }
        }
        var (ours, ort) = RunBoth(g, input);
        Close(ours, ort, 1e-5f, $"{op} vs ONNX Runtime");
        // All three producers are one group: a channel goes from p, q and r at once.
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("p"));
        group.Producers.ShouldBe(["p", "q", "r"], ignoreOrder: true);
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        PrunedEqualsZeroed(deps, group, input, 0, 3);
    }

    [Fact]
    public void GlobalMaxPool_and_InstanceNormalization_keep_channels_their_own_so_they_prune_exactly()
    {
        var b = new GraphBuilder("norm", 3, 5, 5, seed: 6);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        var scale = b.Initializer("in.scale", TensorData.FromFloats([1.5f, 0.5f, -1f, 2f], [4L]));
        var shift = b.Initializer("in.bias", TensorData.FromFloats([0.1f, 0.2f, 0.3f, -0.4f], [4L]));
        var inorm = b.Add("in", OpKind.InstanceNormalization, [conv1, scale, shift], ("epsilon", AttributeValue.Of(1e-5f)));
        var gmp = b.Add("gmp", OpKind.GlobalMaxPool, [inorm]);
        var g = b.Build(b.Conv(gmp, "conv2", 2, 1), "y");
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 5, 5, generator: new Generator(8));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [conv1, inorm, gmp]);
                var x = Floats(run[conv1]);
                var y = Floats(run[inorm]);
                var pooled = Floats(run[gmp]);
                for (int nc = 0; nc < 8; nc++)
                {
                    var slice = x.Skip(nc * 25).Take(25).Select(v => (double)v).ToArray();
                    double mean = slice.Average(), variance = slice.Average(v => (v - mean) * (v - mean));
                    var expected = slice.Select(v => (v - mean) / Math.Sqrt(variance + 1e-5) * scale_(nc % 4) + shift_(nc % 4)).ToArray();
                    for (int k = 0; k < 25; k++) Math.Abs(y[nc * 25 + k] - expected[k]).ShouldBeLessThan(1e-5);
                    pooled[nc].ShouldBe(y.Skip(nc * 25).Take(25).Max());
                }
            }
        }
        var (ours, ort) = RunBoth(g, input);
        Close(ours, ort, 1e-5f, "InstanceNormalization + GlobalMaxPool vs ONNX Runtime");
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        group.Slices.Where(s => s.Role == SliceRole.PerChannel).Select(s => s.Tensor).ShouldBe(["in.scale", "in.bias"], ignoreOrder: true);
        PrunedEqualsZeroed(deps, group, input, 0, 2);

        static double scale_(int c) => new[] { 1.5, 0.5, -1, 2 }[c];
        static double shift_(int c) => new[] { 0.1, 0.2, 0.3, -0.4 }[c];
    }

    [Fact]
    public void LayerNormalization_over_channels_matches_its_formula_and_onnxruntime_and_blocks_with_its_reason()
    {
        var b = new GraphBuilder("ln", 3, 4, 4, seed: 9);
        var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
        // Over C, H, W (axis 1): parameters of shape (C, 1, 1) broadcast to the normalised (C, H, W).
        var scale = b.Initializer("ln.scale", TensorData.FromFloats([1f, 2f, 0.5f, -1f], [4L, 1, 1]));
        var shift = b.Initializer("ln.bias", TensorData.FromFloats([0f, 0.5f, -0.5f, 1f], [4L, 1, 1]));
        var ln = b.Add("ln", OpKind.LayerNormalization, [conv1, scale, shift], ("axis", AttributeValue.Of(1L)), ("epsilon", AttributeValue.Of(1e-5f)));
        var mean = b.Add("mean", OpKind.ReduceMean, [ln], ("axes", AttributeValue.Of(2L, 3L)), ("keepdims", AttributeValue.Of(1L)));
        var g = b.Build(b.Conv(mean, "conv2", 2, 1), "y");
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4, generator: new Generator(2));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [conv1, ln, mean]);
                var x = Floats(run[conv1]);
                var y = Floats(run[ln]);
                var avg = Floats(run[mean]);
                float[] s = [1f, 2f, 0.5f, -1f], t = [0f, 0.5f, -0.5f, 1f];
                for (int n = 0; n < 2; n++)
                {
                    var sample = x.Skip(n * 64).Take(64).Select(v => (double)v).ToArray();
                    double mu = sample.Average(), variance = sample.Average(v => (v - mu) * (v - mu));
                    for (int k = 0; k < 64; k++)
                        Math.Abs(y[n * 64 + k] - ((sample[k] - mu) / Math.Sqrt(variance + 1e-5) * s[k / 16] + t[k / 16])).ShouldBeLessThan(1e-5);
                    for (int c = 0; c < 4; c++) Math.Abs(avg[n * 4 + c] - y.Skip(n * 64 + c * 16).Take(16).Average()).ShouldBeLessThan(1e-6f);
                }
            }
        }
        var (ours, ort) = RunBoth(g, input);
        Close(ours, ort, 1e-5f, "LayerNormalization + ReduceMean vs ONNX Runtime");
        // Statistics across channels: no channel of conv1 can go without changing the others.
        var group = DependencyGraph.Build(g).Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeFalse();
        group.BlockedReason.ShouldNotBeNull().ShouldContain("normalises across channels");
        // A mean over spatial axes keeps channels: LayerNorm's own (blocked) output still reaches conv2 as channels.
        DependencyGraph.Build(g).Groups.ShouldContain(gr => gr.Slices.Any(sl => sl.Node == "conv2" && sl.Role == SliceRole.Consumer));
    }

    [Fact]
    public void GroupNormalization_matches_its_formula_in_both_parameter_forms_and_prunes_whole_norm_groups()
    {
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4, generator: new Generator(4));
        foreach (var perChannel in new[] { true, false })
        {
            var b = new GraphBuilder("gn", 3, 4, 4, seed: 1);
            var conv1 = b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true);
            // Two groups of two channels; opset 21 gives one scale per channel, opset 18 one per group.
            float[] s = perChannel ? [1f, 2f, 0.5f, -1f] : [1.5f, -0.5f], t = perChannel ? [0f, 0.5f, -0.5f, 1f] : [0.25f, -1f];
            var scale = b.Initializer("gn.scale", TensorData.FromFloats(s, [s.Length]));
            var shift = b.Initializer("gn.bias", TensorData.FromFloats(t, [t.Length]));
            var gn = b.Add("gn", OpKind.GroupNormalization, [conv1, scale, shift], ("num_groups", AttributeValue.Of(2L)), ("epsilon", AttributeValue.Of(1e-5f)));
            var g = b.Build(b.Conv(gn, "conv2", 2, 1), "y");
            using var m = new GraphModule(g);
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [conv1, gn]);
                var x = Floats(run[conv1]);
                var y = Floats(run[gn]);
                for (int n = 0; n < 2; n++)
                    for (int grp = 0; grp < 2; grp++)
                    {
                        int start = n * 64 + grp * 32;
                        var part = x.Skip(start).Take(32).Select(v => (double)v).ToArray();
                        double mu = part.Average(), variance = part.Average(v => (v - mu) * (v - mu));
                        for (int k = 0; k < 32; k++)
                        {
                            int c = grp * 2 + k / 16, p = perChannel ? c : grp;
                            Math.Abs(y[start + k] - ((part[k] - mu) / Math.Sqrt(variance + 1e-5) * s[p] + t[p])).ShouldBeLessThan(1e-5);
                        }
                    }
            }
            var deps = DependencyGraph.Build(g);
            var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
            if (perChannel)
            {
                // Whole norm groups go: the other group's statistics stay, so pruned equals zeroed, and num_groups follows.
                group.Prunable.ShouldBeTrue(group.BlockedReason);
                (group.Chunk, group.Units).ShouldBe((2L, 2L));
                PrunedEqualsZeroed(deps, group, input, 2, 3);
                var pruned = StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = group.FromUnits([0]) });
                pruned.FindNode("gn")!.Int("num_groups", 0).ShouldBe(1);
                pruned.Initializers["gn.scale"].Floats.ShouldBe([0.5f, -1f]);
                // Part of a norm group would change the rest of its statistics: refused, naming the rule.
                Should.Throw<SecateurException>(() => StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1] }))
                    .Message.ShouldContain("whole runs");
            }
            else group.BlockedReason.ShouldNotBeNull().ShouldContain("one scale per group");
            // Saved at the opset its form needs (one scale per channel: 21; per group: 18), ONNX Runtime computes the same.
            OnnxSerializer.OpsetFor(g).ShouldBe(perChannel ? 21 : 18);
            var (ours, ort) = RunBoth(g, input);
            Close(ours, ort, 1e-5f, $"GroupNormalization ({(perChannel ? "per channel" : "per group")}) vs ONNX Runtime");
        }
    }

    [Theory]
    [InlineData("DCR")]
    [InlineData("CRD")]
    public void DepthToSpace_and_SpaceToDepth_move_pixels_as_onnx_defines_and_prune_across_their_channel_ties(string mode)
    {
        const long r = 2;
        var b = new GraphBuilder("d2s", 3, 4, 4, seed: 7);
        var conv1 = b.Conv(b.Input, "conv1", 8, 3, 1, 1, bias: true);
        var s2d = b.Add("s2d", OpKind.SpaceToDepth, [conv1], ("blocksize", AttributeValue.Of(r)));
        var d2s = b.Add("d2s", OpKind.DepthToSpace, [s2d], ("blocksize", AttributeValue.Of(r)), ("mode", AttributeValue.Of(mode)));
        var g = b.Build(b.Conv(d2s, "conv2", 2, 1), "y");
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4, generator: new Generator(6));
        using (var m = new GraphModule(g))
        {
            m.eval();
            using (no_grad())
            {
                var run = m.Run(new Dictionary<string, Tensor> { ["input"] = input }, capture: [conv1, s2d, d2s]);
                var x = run[conv1].contiguous().data<float>().ToArray();
                var s = run[s2d];
                s.shape.ShouldBe([2L, 32L, 2L, 2L]);
                var sv = s.contiguous().data<float>().ToArray();
                var d = run[d2s];
                d.shape.ShouldBe([2L, 8L, 4L, 4L]);
                var dv = d.contiguous().data<float>().ToArray();
                long C = 8, H = 4, W = 4;
                for (long n = 0; n < 2; n++)
                    for (long c = 0; c < C; c++)
                        for (long h = 0; h < H; h++)
                            for (long w = 0; w < W; w++)
                            {
                                long i = h % r, j = w % r;
                                // SpaceToDepth (ONNX's only order): output channel (i·r + j)·C + c.
                                long sc = (i * r + j) * C + c;
                                sv[((n * 32 + sc) * 2 + h / r) * 2 + w / r].ShouldBe(x[((n * C + c) * H + h) * W + w]);
                            }
                // DepthToSpace: DCR reads channel (i·r + j)·C' + c, CRD channel c·r² + i·r + j.
                long C2 = 8;
                for (long n = 0; n < 2; n++)
                    for (long c = 0; c < C2; c++)
                        for (long h = 0; h < 4; h++)
                            for (long w = 0; w < 4; w++)
                            {
                                long i = h % r, j = w % r;
                                long src = mode == "DCR" ? (i * r + j) * C2 + c : c * r * r + i * r + j;
                                dv[((n * C2 + c) * 4 + h) * 4 + w].ShouldBe(sv[((n * 32 + src) * 2 + h / r) * 2 + w / r]);
                            }
            }
        }
        var (ours, ort) = RunBoth(g, input);
        Close(ours, ort, 1e-5f, $"SpaceToDepth + DepthToSpace ({mode}) vs ONNX Runtime");
        var deps = DependencyGraph.Build(g);
        // SpaceToDepth then DCR is the identity on channels (a plain group); then CRD ties runs of 4 (see DepthToSpacePruningTests).
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        group.Chunk.ShouldBe(mode == "CRD" ? 4L : 1L);
        PrunedEqualsZeroed(deps, group, input, [.. group.FromUnits([1])]);
    }
}
