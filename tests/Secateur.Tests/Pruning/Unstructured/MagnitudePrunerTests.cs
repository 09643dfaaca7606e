using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning.Unstructured;

namespace Secateur.Tests.Pruning.Unstructured;

public sealed class MagnitudePrunerTests
{
    private static readonly ModelGraph LeNet = ModelZoo.Create("lenet5");

    private static (float[] Pruned, float[] Kept) Split(ModelGraph g, WeightMasks masks, string weight)
    {
        var w = g.Initializers[weight].Floats;
        var keep = masks.Keep[weight];
        return (w.Where((_, i) => !keep[i]).ToArray(), w.Where((_, i) => keep[i]).ToArray());
    }

    [Fact]
    public void Layer_scope_prunes_the_same_fraction_of_each_layer_by_magnitude_and_leaves_the_classifier_dense()
    {
        var masks = MagnitudePruner.Masks(LeNet, new SparsityOptions { Sparsity = 0.8 });
        masks.Keep.Keys.ShouldBe(["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]);
        foreach (var (name, keep) in masks.Keep)
        {
            keep.Count(k => !k).ShouldBe((int)Math.Round(0.8 * keep.Length), name);
            var (pruned, kept) = Split(LeNet, masks, name);
            pruned.Max(Math.Abs).ShouldBeLessThanOrEqualTo(kept.Min(Math.Abs), name);
        }
        var sparse = masks.Apply(LeNet);
        var report = SparsityReport.Compute(sparse);
        report.Layers.Single(l => l.Layer == "fc3").Sparsity.ShouldBe(0);
        report.Layers.Single(l => l.Layer == "conv2").Sparsity.ShouldBe(0.8, 1e-3);
        // Zero-initialised biases are zeros already; every pruned weight was non-zero before.
        report.NonZeroParams.ShouldBe(SparsityReport.Compute(LeNet).NonZeroParams - (masks.Count - masks.Kept));
        report.Params.ShouldBe(LeNet.ParameterCount());
    }

    [Fact]
    public void Global_scope_uses_one_threshold_across_layers()
    {
        var masks = MagnitudePruner.Masks(LeNet, new SparsityOptions { Sparsity = 0.9, Scope = SparsityScope.Global });
        (masks.Count - masks.Kept).ShouldBe((long)Math.Round(0.9 * masks.Count));
        float maxPruned = masks.Keep.Keys.Max(k => Split(LeNet, masks, k).Pruned.DefaultIfEmpty(0).Max(Math.Abs));
        float minKept = masks.Keep.Keys.Min(k => Split(LeNet, masks, k).Kept.DefaultIfEmpty(float.MaxValue).Min(Math.Abs));
        maxPruned.ShouldBeLessThanOrEqualTo(minKept);
        // The layers' initial weight scales differ, so one threshold gives them different sparsities.
        var per = masks.Keep.Values.Select(k => k.Count(x => !x) / (double)k.Length).ToList();
        (per.Max() - per.Min()).ShouldBeGreaterThan(0.05);
    }

    [Fact]
    public void Lamp_scores_are_the_squared_weight_over_the_sum_of_the_larger_ones()
    {
        var s = MagnitudePruner.Score([3f, -1f, 2f], WeightCriterion.Lamp, null);
        s[1].ShouldBe(1f / 14f, 1e-7f); // 1 / (1 + 4 + 9)
        s[2].ShouldBe(4f / 13f, 1e-7f); // 4 / (4 + 9)
        s[0].ShouldBe(1f, 1e-7f);       // the largest weight of a layer scores 1
        MagnitudePruner.Score([3f, -1f, 2f], WeightCriterion.Lamp, [true, false, true])[1].ShouldBe(-1f);
    }

    [Fact]
    public void Lamp_at_extreme_sparsity_never_empties_a_layer_unlike_global_magnitude()
    {
        var options = new SparsityOptions { Sparsity = 0.995, Scope = SparsityScope.Global };
        var lamp = MagnitudePruner.Masks(LeNet, options with { Criterion = WeightCriterion.Lamp });
        lamp.Keep.Values.ShouldAllBe(k => k.Any(x => x));
        (lamp.Count - lamp.Kept).ShouldBe((long)Math.Round(0.995 * lamp.Count));
    }

    [Fact]
    public void Masks_only_grow_from_one_step_to_the_next()
    {
        var first = MagnitudePruner.Masks(LeNet, new SparsityOptions { Sparsity = 0.5 });
        // Perturb the weights so that a fresh ranking would revive some pruned ones.
        var moved = first.Apply(LeNet);
        var rng = new Random(1);
        foreach (var name in first.Keep.Keys)
        {
            var w = moved.Initializers[name].Floats;
            for (int i = 0; i < w.Length; i++) w[i] += (float)(rng.NextDouble() - 0.5) * 0.5f;
        }
        var second = MagnitudePruner.Masks(moved, new SparsityOptions { Sparsity = 0.7 }, first);
        foreach (var (name, keep) in first.Keep)
            for (int i = 0; i < keep.Length; i++)
                if (!keep[i]) second.Keep[name][i].ShouldBeFalse();
        foreach (var keep in second.Keep.Values) keep.Count(k => !k).ShouldBe((int)Math.Round(0.7 * keep.Length));
    }

    [Fact]
    public void Exclusions_and_the_classifier_option_choose_the_layers()
    {
        var weights = MagnitudePruner.Weights(LeNet, new SparsityOptions { Exclude = ["conv1", "fc*"], PruneClassifier = true });
        weights.Select(w => w.Weight).ShouldBe(["conv2.weight"]);
        MagnitudePruner.Weights(LeNet, new SparsityOptions { PruneClassifier = true }).Select(w => w.Layer.Name).ShouldContain("fc3");
        Should.Throw<SecateurException>(() => MagnitudePruner.Masks(LeNet, new SparsityOptions { Exclude = ["*"] })).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => MagnitudePruner.Masks(LeNet, new SparsityOptions { Sparsity = 1 })).Parameter.ShouldBe(nameof(SparsityOptions.Sparsity));
    }

    [Fact]
    public void A_sparse_graph_saves_to_onnx_with_its_zeros_in_place()
    {
        var sparse = MagnitudePruner.Masks(LeNet, new SparsityOptions { Sparsity = 0.9 }).Apply(LeNet);
        var loaded = OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(sparse), "sparse");
        SparsityReport.Compute(loaded).ShouldBe(SparsityReport.Compute(sparse), new ReportComparer());
        SparsityReport.Compute(loaded).NonZeroParams.ShouldBeLessThan(LeNet.ParameterCount() / 5);
    }

    private sealed class ReportComparer : IEqualityComparer<SparsityReport>
    {
        public bool Equals(SparsityReport? a, SparsityReport? b) =>
            a is not null && b is not null && a.Params == b.Params && a.NonZeroParams == b.NonZeroParams && a.Layers.SequenceEqual(b.Layers);
        public int GetHashCode(SparsityReport r) => r.NonZeroParams.GetHashCode();
    }
}
