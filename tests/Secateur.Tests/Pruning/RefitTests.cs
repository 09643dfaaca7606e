using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

/// <summary>Normal-distributed images in fixed batches (labels 0): calibration data for refit tests.</summary>
internal sealed class RandomImages(int count, long[] shape, int batchSize = 16, int seed = 1) : IBatchSource
{
    public long Samples => count;

    public int BatchesPerEpoch => (count + batchSize - 1) / batchSize;

    public IEnumerable<Batch> Epoch(int epoch)
    {
        var rng = new Random(seed);
        long size = shape.Aggregate(1L, (a, b) => a * b);
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var pixels = new float[n * size];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            yield return new Batch(pixels, new long[n], n, shape);
        }
    }
}

public sealed class RefitTests
{
    private static readonly long[] Image = [3, 12, 12];

    /// <summary>Rows <paramref name="removed"/> of producer weight <paramref name="tensor"/> become random combinations of rows <paramref name="basis"/>.</summary>
    private static void MakeDependent(ModelGraph g, string tensor, IReadOnlyList<long> removed, IReadOnlyList<long> basis, int seed)
    {
        var t = g.Initializers[tensor];
        long row = t.Floats.Length / t.Shape[0];
        var rng = new Random(seed);
        foreach (var r in removed)
        {
            var combo = new float[row];
            foreach (var b in basis)
            {
                float c = (float)(rng.NextDouble() * 2 - 1);
                for (long k = 0; k < row; k++) combo[k] += c * t.Floats[b * row + k];
            }
            Array.Copy(combo, 0, t.Floats, r * row, row);
        }
    }

    private static (PruningPlan Plan, ModelGraph Pruned) Plan(ModelGraph g, string producer, long[] remove)
    {
        var deps = DependencyGraph.Build(g);
        var group = deps.Prunable.Single(x => x.Producers.Contains(producer));
        var plan = new PruningPlan(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = remove });
        return (plan, plan.Apply());
    }

    internal static float[] Outputs(ModelGraph g, IBatchSource data)
    {
        using var m = new GraphModule(g);
        m.eval();
        var all = new List<float>();
        using (no_grad())
            foreach (var batch in data.Epoch(0))
            {
                using var scope = NewDisposeScope();
                var (x, _) = Secateur.Training.Trainer.ToTensors(batch, m.Device);
                all.AddRange(m.forward(x).contiguous().data<float>().ToArray());
            }
        return [.. all];
    }

    internal static double MaxAbs(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));

    private static double Mse(float[] a, float[] b) => a.Zip(b).Average(p => (double)(p.First - p.Second) * (p.First - p.Second));

    /// <summary>Refit with no ridge on exactly reconstructible channels gives back the dense output on fresh images.</summary>
    private static void AssertExact(ModelGraph dense, string producer, long[] remove)
    {
        var (plan, pruned) = Plan(dense, producer, remove);
        var calibration = new RandomImages(64, [.. dense.Inputs[0].Dims.Skip(1).Select(d => d.Value)]);
        var fresh = new RandomImages(16, [.. dense.Inputs[0].Dims.Skip(1).Select(d => d.Value)], seed: 9);
        var refit = Refit.Run(plan, pruned, calibration, new RefitOptions { Ridge = 0, PositionsPerImage = 32 });
        refit.Layers.ShouldNotBeEmpty();
        var want = Outputs(dense, fresh);
        double scale = want.Max(Math.Abs);
        scale.ShouldBeGreaterThan(0.1f);
        // Pruning alone must be visibly wrong, or the test proves nothing.
        MaxAbs(Outputs(pruned, fresh), want).ShouldBeGreaterThan(1e-2);
        MaxAbs(Outputs(refit.Graph, fresh), want).ShouldBeLessThan(1e-4 * Math.Max(1, scale));
        refit.Layers.ShouldAllBe(l => l.ErrorAfter < 1e-8);
    }

    [Fact]
    public void Strided_dilated_padded_conv_is_refit_exactly()
    {
        var b = new GraphBuilder("conv", 3, 12, 12, seed: 2);
        var a = b.Conv(b.Input, "a", 8, 3, pad: 1);
        var g = b.Build(b.Conv(a, "b", 6, 3, stride: 2, pad: 2, dilation: 2, bias: true), "y");
        MakeDependent(g, "a.weight", [5, 6, 7], [0, 1, 2, 3, 4], seed: 4);
        AssertExact(g, "a", [5, 6, 7]);
    }

    [Fact]
    public void Conv_before_a_batch_norm_folds_its_fitted_bias_into_the_running_mean()
    {
        var b = new GraphBuilder("convbn", 3, 12, 12, seed: 3);
        var a = b.Conv(b.Input, "a", 8, 3, pad: 1, bias: true);
        var g = b.Build(b.BatchNorm(b.Conv(a, "b", 6, 1), "bn"), "y");
        // Removed channels are combinations of kept ones plus a constant: only a fitted intercept reproduces them, and
        // the bias-free conv can only take it through the batch norm's running mean.
        var rng = new Random(3);
        var bias = g.Initializers["a.bias"].Floats;
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)(rng.NextDouble() - 0.5);
        var stats = g.Initializers["bn.running_var"].Floats;
        for (int i = 0; i < stats.Length; i++) stats[i] = 0.5f + (float)rng.NextDouble();
        MakeDependent(g, "a.weight", [0, 4], [1, 2, 3, 5, 6, 7], seed: 5);
        AssertExact(g, "a", [0, 4]);
    }

    [Fact]
    public void Grouped_conv_is_refit_exactly_per_group()
    {
        var b = new GraphBuilder("grouped", 3, 12, 12, seed: 5);
        var a = b.Conv(b.Input, "a", 8, 1);
        var g = b.Build(b.Conv(a, "b", 4, 3, pad: 1, groups: 2), "y");
        // Channel 3 is a combination of 0..2 (conv group 0), channel 7 of 4..6 (conv group 1).
        MakeDependent(g, "a.weight", [3], [0, 1, 2], seed: 6);
        MakeDependent(g, "a.weight", [7], [4, 5, 6], seed: 7);
        AssertExact(g, "a", [3, 7]);
    }

    [Fact]
    public void Gemm_is_refit_exactly()
    {
        var b = new GraphBuilder("gemm", 3, 4, 4, seed: 8);
        var a = b.Linear(b.Flatten(b.Input), "a", 10, bias: false);
        var g = b.Build(b.Linear(a, "b", 5), "y");
        MakeDependent(g, "a.weight", [2, 8], [0, 1, 3, 4, 5, 6, 7, 9], seed: 9);
        AssertExact(g, "a", [2, 8]);
    }

    [Fact]
    public void Padded_conv_transpose_is_refit_exactly()
    {
        var b = new GraphBuilder("convt", 3, 6, 6, seed: 10);
        var a = b.Conv(b.Input, "a", 8, 1);
        var rng = new Random(11);
        var w = b.Initializer("b.weight", TensorData.FromFloats([.. Enumerable.Range(0, 8 * 4 * 3 * 3).Select(_ => (float)(rng.NextDouble() - 0.5))], 8, 4, 3, 3));
        var bias = b.Initializer("b.bias", TensorData.FromFloats([0.1f, -0.2f, 0.3f, 0f], 4));
        var y = b.Add("b", OpKind.ConvTranspose, [a, w, bias], ("kernel_shape", AttributeValue.Of(3L, 3L)), ("strides", AttributeValue.Of(2L, 2L)),
            ("pads", AttributeValue.Of(1L, 0L, 0L, 1L)), ("output_padding", AttributeValue.Of(1L, 1L)));
        var g = b.Build(y, "y");
        MakeDependent(g, "a.weight", [1, 6], [0, 2, 3, 4, 5, 7], seed: 12);
        AssertExact(g, "a", [1, 6]);
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Refit_never_worsens_a_layer_and_brings_a_pruned_resnet_closer_to_the_dense_one()
    {
        var dense = ModelZoo.Create("resnet20", new ZooOptions(1, 16, 16, 10, Seed: 3));
        var deps = DependencyGraph.Build(dense);
        var rng = new Random(13);
        var remove = deps.Prunable.ToDictionary(g => g, g => (IReadOnlyCollection<long>)g.InEveryBlock(
            Enumerable.Range(0, (int)g.Period).OrderBy(_ => rng.Next()).Take((int)g.Period / 2).Select(i => (long)i)));
        var plan = new PruningPlan(deps, remove);
        var pruned = plan.Apply();
        var calibration = new RandomImages(64, [1, 16, 16]);
        var before = Mse(Outputs(pruned, calibration), Outputs(dense, calibration));
        foreach (var ridge in new[] { 0.0, 1e-3, 1e3 })
        {
            var refit = Refit.Run(plan, pruned, calibration, new RefitOptions { Ridge = ridge, PositionsPerImage = 32 });
            refit.Layers.Count.ShouldBeGreaterThan(10);
            refit.Layers.ShouldAllBe(l => l.ErrorAfter <= l.ErrorBefore);
            var after = Mse(Outputs(refit.Graph, calibration), Outputs(dense, calibration));
            after.ShouldBeLessThanOrEqualTo(before * (ridge >= 1e3 ? 1.0001 : 0.5), $"ridge {ridge}");
        }
    }
}

public sealed class RefitStreamingTests
{
    private static float[] Outputs(ModelGraph g, IBatchSource data) => RefitTests.Outputs(g, data);

    private static double MaxAbs(float[] a, float[] b) => RefitTests.MaxAbs(a, b);

    [Fact]
    public void Refit_in_small_batches_equals_refit_in_one_batch()
    {
        var dense = ModelZoo.Create("resnet20", new ZooOptions(1, 8, 8, 10, Seed: 4));
        var deps = DependencyGraph.Build(dense);
        var rng = new Random(15);
        var remove = deps.Prunable.ToDictionary(g => g, g => (IReadOnlyCollection<long>)g.InEveryBlock(
            Enumerable.Range(0, (int)g.Period).OrderBy(_ => rng.Next()).Take((int)g.Period / 2).Select(i => (long)i)));
        var plan = new PruningPlan(deps, remove);
        var pruned = plan.Apply();
        // Every position of every map (8×8 at most): the normal equations do not depend on how the images are batched.
        var options = new RefitOptions { Ridge = 1e-3, PositionsPerImage = 64 };
        var one = Refit.Run(plan, pruned, new RandomImages(40, [1, 8, 8], batchSize: 40), options);
        var many = Refit.Run(plan, pruned, new RandomImages(40, [1, 8, 8], batchSize: 6), options);
        one.Layers.Count.ShouldBeGreaterThan(10);
        one.Layers.Select(l => l.Samples).ShouldBe(many.Layers.Select(l => l.Samples));
        var fresh = new RandomImages(16, [1, 8, 8], seed: 9);
        var a = Outputs(one.Graph, fresh);
        double scale = Math.Max(1, a.Max(Math.Abs));
        MaxAbs(Outputs(pruned, fresh), a).ShouldBeGreaterThan(1e-2 * scale);
        MaxAbs(Outputs(many.Graph, fresh), a).ShouldBeLessThan(1e-3 * scale);
        one.Layers.Zip(many.Layers).ShouldAllBe(p => Math.Abs(p.First.ErrorAfter - p.Second.ErrorAfter) < 1e-5);
    }

    [Fact]
    public void Pruned_values_are_stored_only_while_a_later_layer_reads_them()
    {
        var b = new GraphBuilder("chain", 3, 12, 12, seed: 14);
        var a = b.Relu(b.Conv(b.Input, "a", 8, 3, pad: 1));
        var c = b.Relu(b.Conv(a, "b", 10, 3, pad: 1));
        var g = b.Build(b.Conv(c, "c", 6, 3, pad: 1), "y");
        var deps = DependencyGraph.Build(g);
        var plan = new PruningPlan(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>>
        {
            [deps.Prunable.Single(x => x.Producers.Contains("a"))] = [1, 5],        // 6 channels stay
            [deps.Prunable.Single(x => x.Producers.Contains("b"))] = [0, 4, 9],     // 7 channels stay
        });
        var r = Refit.Run(plan, plan.Apply(), new RandomImages(24, [3, 12, 12], batchSize: 5), new RefitOptions(), null, Refit.StoreBudgetBytes, out long peak);
        r.Layers.Select(l => l.Node).ShouldBe(["b", "c"]);
        // For b only a's map is kept (6 channels), for c only b's (7): never both, never the images, float32.
        peak.ShouldBe(24L * 7 * 12 * 12 * 4);
    }

    [Fact]
    public void Float16_storage_beyond_the_budget_halves_the_stored_values_and_stays_close()
    {
        var b = new GraphBuilder("conv", 3, 12, 12, seed: 2);
        var a = b.Conv(b.Input, "a", 8, 3, pad: 1);
        var g = b.Build(b.Conv(a, "b", 6, 3, stride: 2, pad: 2, dilation: 2, bias: true), "y");
        var w = g.Initializers["a.weight"];
        long row = w.Floats.Length / w.Shape[0];
        var rng = new Random(4);
        foreach (var r in new[] { 5, 6, 7 })
        {
            // Channel r becomes a fixed combination of channels 0..4, so a refit on the rest can be exact.
            var c = Enumerable.Range(0, 5).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            for (long k = 0; k < row; k++)
                w.Floats[r * row + k] = Enumerable.Range(0, 5).Sum(j => c[j] * w.Floats[j * row + k]);
        }
        var deps = DependencyGraph.Build(g);
        var plan = new PruningPlan(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [deps.Prunable.Single(x => x.Producers.Contains("a"))] = [5, 6, 7] });
        var pruned = plan.Apply();
        var calibration = new RandomImages(64, [3, 12, 12]);
        var options = new RefitOptions { Ridge = 0, PositionsPerImage = 32 };
        var wide = Refit.Run(plan, pruned, calibration, options, null, long.MaxValue, out long peak32);
        var narrow = Refit.Run(plan, pruned, calibration, options, null, 0, out long peak16);
        peak32.ShouldBe(64L * 5 * 12 * 12 * 4);
        peak16.ShouldBe(peak32 / 2);
        var fresh = new RandomImages(16, [3, 12, 12], seed: 9);
        var want = Outputs(g, fresh);
        double prunedError = MaxAbs(Outputs(pruned, fresh), want);
        MaxAbs(Outputs(wide.Graph, fresh), want).ShouldBeLessThan(1e-4 * Math.Max(1, want.Max(Math.Abs)));
        MaxAbs(Outputs(narrow.Graph, fresh), want).ShouldBeLessThan(1e-2 * prunedError);
        narrow.Layers.ShouldAllBe(l => l.ErrorAfter < 1e-5);
    }
}
