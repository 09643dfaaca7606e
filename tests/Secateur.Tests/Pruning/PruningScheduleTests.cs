using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;

namespace Secateur.Tests.Pruning;

public sealed class PruningScheduleTests
{
    [Theory]
    [InlineData(PruningScheduleKind.Iterative)]
    [InlineData(PruningScheduleKind.Agp)]
    public void Budgets_decrease_to_the_final_budget(PruningScheduleKind kind)
    {
        var b = PruningSchedule.Budgets(kind, 1000, 250, 4);
        b.Count.ShouldBe(4);
        b[^1].ShouldBe(250);
        for (int i = 1; i < b.Count; i++) b[i].ShouldBeLessThan(b[i - 1]);
        if (kind == PruningScheduleKind.Agp) (1000 - b[0]).ShouldBeGreaterThan(b[2] - b[3]); // fast early, gentle late
        else b[1].ShouldBe(500); // equal factors: 1000 → 707 → 500 → 354 → 250
    }

    [Fact]
    public void Iterative_schedule_fine_tunes_between_steps_and_reaches_the_target()
    {
        var g = ModelZoo.Create("resnet20");
        int finetunes = 0;
        var result = PruningSchedule.Run(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Speedup = 2 } },
            new ScheduleOptions(PruningScheduleKind.Iterative, Steps: 3), (_, p, _) => { finetunes++; return p; }, _ => null);
        result.ReachedTarget.ShouldBeTrue();
        finetunes.ShouldBe(3);
        (ModelStats.Compute(g).Macs / (double)ModelStats.Compute(result.Graph).Macs).ShouldBeGreaterThanOrEqualTo(2);
        result.Steps.Select(s => s.Macs).ShouldBeInOrder(SortDirection.Descending);
    }

    [Fact]
    public void Dynamic_schedule_backs_off_then_stops_when_the_tolerance_cannot_be_kept()
    {
        var g = ModelZoo.Create("resnet20");
        long baseMacs = ModelStats.Compute(g).Macs;
        // A model whose accuracy falls one point per 10% of MACs removed: 2x costs 5 points.
        double? Validate(ModelGraph m) => 0.9 - (1 - ModelStats.Compute(m).Macs / (double)baseMacs) / 10;
        var lines = new List<string>();
        var result = PruningSchedule.Run(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Speedup = 2 } },
            new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 2, Tolerance: 0.02), (_, p, _) => p, Validate, lines.Add);
        result.ReachedTarget.ShouldBeFalse();
        result.Stop.ShouldContain("cannot be met within the tolerance");
        result.Steps.ShouldContain(s => !s.Accepted);
        lines.ShouldContain(l => l.Contains("backing off"));
        (0.9 - Validate(result.Graph)!.Value).ShouldBeLessThanOrEqualTo(0.02 + 1e-9); // what it kept respects the tolerance
    }

    [Fact]
    public void Dynamic_schedule_reaches_a_tolerable_target()
    {
        var g = ModelZoo.Create("resnet20");
        var result = PruningSchedule.Run(g, new ProducerL1(), new PruningOptions { Target = new PruningTarget { Speedup = 1.5 } },
            new ScheduleOptions(PruningScheduleKind.Dynamic, Steps: 2, Tolerance: 0.05), (_, p, _) => p, _ => 0.9);
        result.ReachedTarget.ShouldBeTrue();
        result.Steps.ShouldAllBe(s => s.Accepted);
    }
}
