using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Tests.Graph.Ops;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

/// <summary>
/// DepthToSpace ties r² input channels to each output channel (consecutive in CRD mode, strided by the output's channel
/// count in DCR mode) and SpaceToDepth spreads each input channel over r² output channels: groups prune across them,
/// removing whole ties. Each case: the group is prunable with the tie it documents, pruned equals zeroed within 1e-5,
/// and ONNX Runtime runs the pruned file to the same output.
/// </summary>
public sealed class DepthToSpacePruningTests
{
    private static string D2S(GraphBuilder b, string x, long r, string mode, string name) =>
        b.Add(name, OpKind.DepthToSpace, [x], ("blocksize", AttributeValue.Of(r)), ("mode", AttributeValue.Of(mode)));

    private static string S2D(GraphBuilder b, string x, long r, string name) =>
        b.Add(name, OpKind.SpaceToDepth, [x], ("blocksize", AttributeValue.Of(r)));

    /// <summary>Builds the case's graph; returns it with the producer whose group is checked, its expected Chunk, and the input shape.</summary>
    private static (ModelGraph Graph, string Producer, long Chunk, long[] Input) Build(string name)
    {
        switch (name)
        {
            case "pixelshuffle-crd":
            case "pixelshuffle-dcr":
                {
                    // conv (12 = 3·r²) → DepthToSpace r=2 → BN → Relu → conv: PyTorch's PixelShuffle is CRD.
                    var mode = name.EndsWith("crd") ? "CRD" : "DCR";
                    var b = new GraphBuilder(name, 3, 4, 4, seed: 3);
                    var c1 = b.BatchNorm(b.Conv(b.Input, "conv1", 12, 3, 1, 1, bias: true), "bn1");
                    var d = b.Relu(b.BatchNorm(D2S(b, c1, 2, mode, "d2s"), "bn2"));
                    return (b.Build(b.Conv(d, "conv2", 2, 3, 1, 1, bias: true), "y"), "conv1", mode == "CRD" ? 4 : 1, [2, 3, 4, 4]);
                }
            case "r3-crd":
            case "r3-dcr":
                {
                    var mode = name.EndsWith("crd") ? "CRD" : "DCR";
                    var b = new GraphBuilder(name, 2, 3, 3, seed: 4);
                    var c1 = b.Conv(b.Input, "conv1", 18, 1, bias: true);
                    return (b.Build(b.Conv(D2S(b, c1, 3, mode, "d2s"), "conv2", 2, 3, 1, 1), "y"), "conv1", mode == "CRD" ? 9 : 1, [2, 2, 3, 3]);
                }
            case "concat-crd":
            case "concat-dcr":
                {
                    // DepthToSpace after a Concat: two producers, each tied by runs (CRD) or block by block (DCR).
                    var mode = name.EndsWith("crd") ? "CRD" : "DCR";
                    var b = new GraphBuilder(name, 3, 4, 4, seed: 5);
                    var a = b.Conv(b.Input, "convA", 8, 3, 1, 1, bias: true);
                    var c = b.Conv(b.Input, "convB", 8, 1, bias: true);
                    var d = D2S(b, b.Concat([a, c], "cat"), 2, mode, "d2s");
                    return (b.Build(b.Conv(d, "conv2", 2, 3, 1, 1), "y"), "convB", mode == "CRD" ? 4 : 1, [2, 3, 4, 4]);
                }
            case "residual-crd":
                {
                    // A residual before the DepthToSpace ties two producers; the run constraint holds for both.
                    var b = new GraphBuilder(name, 3, 4, 4, seed: 6);
                    var a = b.Conv(b.Input, "convA", 8, 3, 1, 1, bias: true);
                    var c = b.Conv(b.Relu(a), "convB", 8, 3, 1, 1, bias: true);
                    var d = D2S(b, b.AddValues(a, c), 2, "CRD", "d2s");
                    return (b.Build(b.Conv(d, "conv2", 2, 1), "y"), "convB", 4, [2, 3, 4, 4]);
                }
            case "space-to-depth":
                {
                    // conv (4) → SpaceToDepth r=2 (16) → conv: each channel removed takes 4 input columns of conv2.
                    var b = new GraphBuilder(name, 3, 4, 4, seed: 7);
                    var c1 = b.Relu(b.Conv(b.Input, "conv1", 4, 3, 1, 1, bias: true));
                    return (b.Build(b.Conv(S2D(b, c1, 2, "s2d"), "conv2", 3, 1, bias: true), "y"), "conv1", 1, [2, 3, 4, 4]);
                }
            case "chain-crd-crd":
                {
                    // Two PixelShuffles in a row: 16 input channels per output channel.
                    var b = new GraphBuilder(name, 2, 2, 2, seed: 8);
                    var c1 = b.Conv(b.Input, "conv1", 32, 1, bias: true);
                    var d = D2S(b, D2S(b, c1, 2, "CRD", "d2s1"), 2, "CRD", "d2s2");
                    return (b.Build(b.Conv(d, "conv2", 2, 3, 1, 1), "y"), "conv1", 16, [2, 2, 2, 2]);
                }
            case "s2d-then-d2s":
                {
                    // SpaceToDepth then DepthToSpace (CRD) with a BN and a consumer on each side.
                    var b = new GraphBuilder(name, 3, 4, 4, seed: 9);
                    var c1 = b.Conv(b.Input, "conv1", 8, 3, 1, 1, bias: true);
                    var s = b.BatchNorm(S2D(b, c1, 2, "s2d"), "bn_s");
                    var side = b.Conv(s, "side", 32, 1, bias: true);
                    var d = D2S(b, b.AddValues(s, side), 2, "CRD", "d2s");
                    return (b.Build(b.Conv(d, "conv2", 2, 3, 1, 1), "y"), "conv1", 4, [2, 3, 4, 4]);
                }
            default:
                throw new ArgumentException(name);
        }
    }

    [Theory]
    [InlineData("pixelshuffle-crd")]
    [InlineData("pixelshuffle-dcr")]
    [InlineData("r3-crd")]
    [InlineData("r3-dcr")]
    [InlineData("concat-crd")]
    [InlineData("concat-dcr")]
    [InlineData("residual-crd")]
    [InlineData("space-to-depth")]
    [InlineData("chain-crd-crd")]
    [InlineData("s2d-then-d2s")]
    public void A_group_prunes_across_DepthToSpace_and_SpaceToDepth_removing_whole_ties(string name)
    {
        using var scope = NewDisposeScope();
        var (g, producer, chunk, shape) = Build(name);
        var input = randn(shape, generator: new Generator(11));
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains(producer));
        group.Prunable.ShouldBeTrue(group.BlockedReason);
        group.Chunk.ShouldBe(chunk);
        // Remove one removal unit: a run of r² channels (CRD) or one channel of every block (DCR ties them to one).
        var remove = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = group.FromUnits([1]) };
        PrunedVersusZeroed.MaxDifference(deps, remove, input).ShouldBeLessThan(1e-5f);
        var pruned = StructuredPruner.Prune(deps, remove);
        GraphValidator.Validate(pruned);
        var weight = g.FindNode(producer)!.Inputs[1];
        pruned.Initializers[weight].Shape[0].ShouldBeLessThan(g.Initializers[weight].Shape[0]);
        // ONNX Runtime runs the pruned file to the same output as the runtime.
        using var m = new GraphModule(pruned);
        m.eval();
        float[] ours;
        using (no_grad()) ours = GraphModule.FromTensor(m.forward(input)).Floats;
        using var session = OnnxRuntimeSession.FromBytes(OnnxSerializer.ToBytes(pruned), name + ".onnx");
        var flat = GraphModule.FromTensor(input);
        var ort = session.Run(flat.Floats, flat.Shape).Output;
        ort.Length.ShouldBe(ours.Length);
        for (int i = 0; i < ours.Length; i++) Math.Abs(ours[i] - ort[i]).ShouldBeLessThan(1e-4f * Math.Max(1f, Math.Abs(ort[i])));
    }

    [Fact]
    public void A_CRD_group_refuses_part_of_a_run_and_scores_whole_runs()
    {
        var (g, producer, _, _) = Build("pixelshuffle-crd");
        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains(producer));
        (group.Channels, group.Units).ShouldBe((12L, 3L));
        StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = group.FromUnits([2]) })
            .Initializers[g.FindNode(producer)!.Inputs[1]].Shape.ShouldBe([8L, 3, 3, 3]);
        Should.Throw<SecateurException>(() => StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [5] }))
            .Message.ShouldContain("whole runs");
        // The three output channels' scores are the sums of their four input channels' scores.
        var scores = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        group.UnitScores(scores).ShouldBe([6f, 22f, 38f]);
        // The importance criteria score every channel (the consumer's shared columns are left out, as for grouped convolutions).
        var l1 = new MagnitudeImportance(1).Score(deps, new ImportanceContext())[group];
        l1.Length.ShouldBe(12);
        l1.ShouldAllBe(v => v > 0);
    }

    [Fact]
    public void A_concat_of_a_DepthToSpace_output_with_other_channels_blocks_with_its_reason()
    {
        var b = new GraphBuilder("cat-after", 3, 4, 4, seed: 2);
        var c1 = b.Conv(b.Input, "conv1", 8, 1, bias: true);
        var up = D2S(b, c1, 2, "CRD", "d2s");
        var skip = b.Conv(b.Upsample(b.Input, 2, false, "up"), "skip", 2, 1);
        var g = b.Build(b.Conv(b.Concat([up, skip], "cat"), "conv2", 2, 1), "y");
        var group = DependencyGraph.Build(g).Groups.Single(gr => gr.Producers.Contains("conv1"));
        group.BlockedReason.ShouldNotBeNull().ShouldContain("concatenates the output of a DepthToSpace");
    }
}
