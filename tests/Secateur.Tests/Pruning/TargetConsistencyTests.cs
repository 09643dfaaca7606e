using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Tests.Data;

namespace Secateur.Tests.Pruning;

/// <summary>Targets and stops must not contradict themselves: a run says it met its target only when it did.</summary>
public sealed class TargetConsistencyTests
{
    [Fact]
    public void A_drop_of_exactly_the_tolerance_is_accepted()
    {
        var g = ModelZoo.Create("resnet20");
        // 0.90 − 0.89 is 0.010000000000000009 in doubles: one point against a tolerance of one point.
        var result = PruningSchedule.Run(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Speedup = 1.5 } },
            new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 1, Tolerance: 0.01), (_, p, _) => p, m => ReferenceEquals(m, g) ? 0.90 : 0.89);
        result.Steps[0].Accepted.ShouldBeTrue(result.Steps[0].Note);
        result.ReachedTarget.ShouldBeTrue();
    }

    /// <summary>Meets the budget during the search, misses it on the final side-by-side re-measurement.</summary>
    private sealed class MissOnRemeasure : ILatencyMeasurer
    {
        public double MedianMs(ModelGraph graph, LatencyBudget budget) => 1;

        public LatencyComparison Compare(ModelGraph dense, ModelGraph pruned, LatencyBudget budget) =>
            new(budget.Batch, LatencyStats.FromSamples(budget.Batch, [10.0]), LatencyStats.FromSamples(budget.Batch, [10.0]));
    }

    [Fact]
    public void A_latency_budget_missed_on_re_measurement_is_not_reported_as_reached()
    {
        var outcome = PruningPipeline.Run(ModelZoo.Create("lenet5"), new PruneRequest
        {
            Importance = Importances.Create("l1"),
            Target = new PruningTarget { Latency = new LatencyBudget(5) { Measurer = new MissOnRemeasure() } },
        });
        outcome.Latency!.WithinBudget.ShouldBeFalse();
        outcome.ReachedTarget.ShouldBeFalse();
        outcome.Stop.ShouldNotContain("target reached");
        outcome.Stop.ShouldContain("5 ms");
    }

    [Fact]
    [Trait("Category", TestCategories.Cli)]
    public void A_schedule_that_stops_short_of_its_target_exits_6_and_still_saves_what_it_reached()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "short.onnx");
        // 1000x fewer MACs cannot be reached: the schedule stops after what it could do, like a dynamic schedule out of tolerance.
        var (code, stdout, stderr) = Secateur.Tests.Cli.CliTests.Run("prune", "lenet5", "--speedup", "1000", "--schedule", "iterative", "--steps", "2", "-o", output);
        code.ShouldBe((int)ErrorCode.ImpossibleTarget, stdout + stderr);
        stderr.Trim().Split('\n').Last().ShouldStartWith("error: the target was not met");
        stderr.ShouldContain(output);
        File.Exists(output).ShouldBeTrue();
    }

    [Theory]
    [InlineData("lenet5", 8)]    // groups of 6, 16, 120, 84 channels
    [InlineData("resnet20", 16)] // groups of 16, 32, 64: a 16-channel group must not become 8
    public void Round_to_keeps_every_pruned_group_a_multiple_of_n_and_prunes_only_smaller_groups_freely(string model, int n)
    {
        var g = ModelZoo.Create(model);
        var result = Pruner.Prune(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Ratio = 0.5 }, Allocation = new AllocationOptions(RoundTo: n) });
        result.Groups.ShouldContain(c => c.After < c.Before);
        foreach (var c in result.Groups)
            (c.After % n == 0 || c.After == c.Before || c.Before < n).ShouldBeTrue($"{c.Group}: {c.Before} -> {c.After}");
    }

    [Fact]
    public void Rounding_that_moves_the_result_away_from_the_target_says_so()
    {
        var outcome = PruningPipeline.Run(ModelZoo.Create("resnet20"), new PruneRequest
        {
            Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 1.3 }, Allocation = new AllocationOptions(RoundTo: 16),
        });
        outcome.Speedup.ShouldBeGreaterThan(1.3 * 1.1); // 16-channel groups cannot lose a few channels: the rounding overshoots
        outcome.Notes.ShouldContain(n => n.Contains("requested 1.3x") && n.Contains("multiples of 16"));
    }
}
