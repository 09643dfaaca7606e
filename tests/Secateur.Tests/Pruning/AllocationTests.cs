using Secateur.Models;
using Secateur.Pruning;

namespace Secateur.Tests.Pruning;

/// <summary>A data-free criterion for these tests: L1 norm of the producers' output rows.</summary>
internal sealed class ProducerL1 : IImportance
{
    public string Name => "test-l1";
    public bool NeedsData => false;

    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context) =>
        dependencies.Prunable.ToDictionary(g => g, g =>
        {
            var scores = new float[g.Channels];
            foreach (var s in g.Slices.Where(s => s.Role == SliceRole.Producer && s.Axis == 0))
            {
                var t = dependencies.Graph.Initializers[s.Tensor];
                long per = t.Count / t.Shape[0];
                for (long j = 0; j < g.Channels; j++)
                    for (long k = 0; k < per; k++) scores[j] += Math.Abs(t.Floats[(s.Offset + j) * per + k]);
            }
            return scores;
        });
}

public sealed class AllocationTests
{
    [Theory]
    [InlineData("resnet20", 2.0)]
    [InlineData("resnet20", 4.0)]
    [InlineData("mobilenetv2", 2.0)]
    public void Speedup_target_is_met_uniformly_and_counts_match_the_pruned_graph(string model, double speedup)
    {
        var g = ModelZoo.Create(model);
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Speedup = speedup } });
        result.Speedup.ShouldBeGreaterThanOrEqualTo(speedup);
        result.Speedup.ShouldBeLessThan(speedup * 1.25); // the bisection stops close to the target
        var counter = new PlanCounter(result.Plan.Dependencies);
        var predicted = counter.Count(result.Plan.Remove.ToDictionary(kv => kv.Key, kv => (long)kv.Value.Count));
        predicted.ShouldBe((result.After.Params, result.After.Macs));
        result.Pruned.Outputs[0].Dims[^1].Value.ShouldBe(10); // the classifier keeps its outputs
    }

    [Fact]
    public void Global_allocation_meets_a_params_budget_and_respects_the_per_group_maximum()
    {
        var g = ModelZoo.Create("resnet20");
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions
        {
            Target = new PruningTarget { Params = 100_000 },
            Allocation = new AllocationOptions(AllocationKind.Global, MaxGroupRatio: 0.8),
        });
        result.After.Params.ShouldBeLessThanOrEqualTo(100_000);
        foreach (var c in result.Groups) c.After.ShouldBeGreaterThanOrEqualTo((long)Math.Ceiling(c.Before * 0.2) - 1);
        result.Groups.Select(c => (double)c.After / c.Before).Distinct().Count().ShouldBeGreaterThan(1); // not uniform
    }

    [Fact]
    public void Round_to_keeps_channel_counts_multiples()
    {
        var g = ModelZoo.Create("resnet20");
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Ratio = 0.3 }, Allocation = new AllocationOptions(RoundTo: 8) });
        result.Groups.ShouldAllBe(c => c.After % 8 == 0);
        result.Groups.ShouldContain(c => c.After < c.Before);
    }

    [Fact]
    public void Lowest_scored_channels_go_first_and_excluded_layers_stay()
    {
        var g = ModelZoo.Create("lenet5");
        var w = g.Initializers["conv1.weight"].Floats;
        Array.Clear(w, 2 * 25, 25); // filter 2 of conv1 is now the weakest
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Ratio = 0.2 }, Exclude = ["fc*"] });
        var conv1 = result.Plan.Remove.Single(kv => kv.Key.Producers.Contains("conv1"));
        conv1.Value.ShouldContain(2L);
        result.Groups.Where(c => c.Layers.Any(l => l.StartsWith("fc", StringComparison.Ordinal))).ShouldAllBe(c => c.After == c.Before);
    }

    [Fact]
    public void An_impossible_target_is_a_clear_error()
    {
        var ex = Should.Throw<SecateurException>(() => Pruner.Prune(ModelZoo.Create("lenet5"), new ProducerL1(),
            new PruningOptions { Target = new PruningTarget { Speedup = 1000 } }));
        ex.Code.ShouldBe(ErrorCode.ImpossibleTarget);
        ex.Message.ShouldContain("cannot be met");
        Should.Throw<SecateurException>(() => new PruningTarget { Ratio = 0.5, Speedup = 2 }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
    }

    [Fact]
    public void Preflight_lists_every_group_with_reasons()
    {
        var report = Pruner.Preflight(ModelZoo.Create("mobilenetv2"));
        report.Count(e => e.Prunable).ShouldBeGreaterThan(10);
        report.Where(e => !e.Prunable).ShouldAllBe(e => !string.IsNullOrEmpty(e.Reason));
        report.ShouldContain(e => e.Layers.Contains("features.2.dw.conv") && e.Prunable);
    }
}

// A wall-clock bound: measured alone, in the serial timing collection, so parallel CPU-heavy tests don't decide it.
[Collection(nameof(TimingCollection))]
public sealed class AllocationSpeedTests
{
    [Fact]
    [Trait("Category", TestCategories.Timing)]
    public void Resnet50_analysis_and_halving_is_fast()
    {
        var g = ModelZoo.Create("resnet50");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Ratio = 0.5 } });
        sw.Stop();
        result.After.Params.ShouldBeLessThan(g.ParameterCount() / 2);
        sw.Elapsed.TotalSeconds.ShouldBeLessThan(10); // generous for a loaded CI machine; the benchmark records the real figure
    }
}

public sealed class SensitivityAllocationTests
{
    [Fact]
    public void Interpolation_stops_at_the_first_point_over_the_threshold()
    {
        (double, double)[] curve = [(0.25, 0.01), (0.5, 0.03), (0.75, 0.2)];
        Allocation.RatioWithin(curve, 0.0).ShouldBe(0);
        Allocation.RatioWithin(curve, 0.01).ShouldBe(0.25, 1e-12);
        Allocation.RatioWithin(curve, 0.02).ShouldBe(0.375, 1e-12);
        Allocation.RatioWithin(curve, 1.0).ShouldBe(0.75);
    }

    [Fact]
    public void Tolerant_groups_lose_more_than_sensitive_ones_and_the_target_is_met()
    {
        var g = ModelZoo.Create("resnet20");
        var deps = DependencyGraph.Build(g);
        // Fake analysis: residual-chain groups (several producers) are sensitive, the rest tolerant.
        var points = deps.Prunable.SelectMany(p => new[] { 0.25, 0.5, 0.75 }.Select(r =>
            new SensitivityPoint(p.Name, p.Channels, r, (long)(r * p.Channels), 0, p.Producers.Count() > 1 ? r * 0.5 : r * 0.02))).ToList();
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 1.5 },
            Allocation = new AllocationOptions(AllocationKind.Sensitivity),
            Sensitivity = points,
        });
        result.Speedup.ShouldBeGreaterThanOrEqualTo(1.5);
        var chain = result.Groups.Where(c => c.Layers.Count > 1).Average(c => 1 - (double)c.After / c.Before);
        var inner = result.Groups.Where(c => c.Layers.Count == 1).Average(c => 1 - (double)c.After / c.Before);
        inner.ShouldBeGreaterThan(chain);
        Should.Throw<SecateurException>(() => Pruner.Prune(g, new ProducerL1(), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 1.5 }, Allocation = new AllocationOptions(AllocationKind.Sensitivity),
        })).Code.ShouldBe(ErrorCode.BadArgument);
    }
}
