using Secateur.Models;
using Secateur.Pruning;

namespace Secateur.Tests.Workflows;

/// <summary>A criterion with scores fixed per group name, so that the channels below a threshold are known in advance.</summary>
internal sealed class FixedScores(IReadOnlyDictionary<string, float[]> scores) : IImportance
{
    public string Name => "fixed";
    public bool NeedsData => false;

    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context) =>
        dependencies.Prunable.ToDictionary(g => g, g => scores[g.Name]);
}

public sealed class ThresholdTargetTests
{
    // lenet5's groups: conv1 (6), conv2 (16), fc1 (120), fc2 (84).
    private static readonly FixedScores Scores = new(new Dictionary<string, float[]>
    {
        ["conv1"] = [1, 10, 1, 1, 10, 1],                  // sum 24: the four 1s have share 1/24 ≈ 0.042, the 10s 0.42
        ["conv2"] = Enumerable.Repeat(1f, 16).ToArray(),    // share 1/16 = 0.0625 each
        ["fc1"] = Enumerable.Repeat(1f, 120).ToArray(),     // share 1/120 each: all below, so the per-layer maximum decides
        ["fc2"] = new float[84],                            // all zero: no ranking, nothing removed
    });

    private static PruningResult Prune(double threshold, AllocationKind kind) => Pruner.Prune(ModelZoo.Create("lenet5"), Scores,
        new PruningOptions { Target = new PruningTarget { Threshold = threshold }, Allocation = new AllocationOptions(kind, RoundTo: 1, MaxGroupRatio: 0.9) });

    [Fact]
    public void Per_group_threshold_removes_exactly_the_channels_whose_share_of_their_group_is_below_it()
    {
        var result = Prune(0.05, AllocationKind.Uniform);
        var after = result.Groups.ToDictionary(g => g.Group, g => g.After);
        after["conv1"].ShouldBe(2);
        after["conv2"].ShouldBe(16);
        after["fc1"].ShouldBe(12);  // 108 of 120 = the 0.9 maximum
        after["fc2"].ShouldBe(84);
        var conv1 = result.Plan.Remove.Single(kv => kv.Key.Name == "conv1").Value;
        conv1.ShouldBe([0L, 2, 3, 5]); // the low-scored ones, not just any four
    }

    [Fact]
    public void Global_threshold_divides_by_the_sum_over_all_groups()
    {
        // Total 24 + 16 + 120 + 0 = 160: a share below 0.05 is a score below 8, so only conv1's 10s survive the threshold.
        var after = Prune(0.05, AllocationKind.Global).Groups.ToDictionary(g => g.Group, g => g.After);
        after["conv1"].ShouldBe(2);
        after["conv2"].ShouldBe(2);   // 14 of 16 removed: the maximum
        after["fc1"].ShouldBe(12);
        after["fc2"].ShouldBe(9);     // zero scores are below any positive threshold; 75 of 84 is the maximum
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Thresholds_outside_the_open_unit_interval_are_rejected(double t) =>
        Should.Throw<SecateurException>(() => new PruningTarget { Threshold = t }.Validated()).Parameter.ShouldBe(nameof(PruningTarget.Threshold));

    [Fact]
    public void A_threshold_is_one_target_among_the_others_and_only_one_shot()
    {
        Should.Throw<SecateurException>(() => new PruningTarget { Threshold = 0.1, Speedup = 2 }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => PruningSchedule.Run(ModelZoo.Create("lenet5"), Scores, new PruningOptions { Target = new PruningTarget { Threshold = 0.05 } },
            new ScheduleOptions(PruningScheduleKind.Iterative), (_, g, _) => g, _ => null)).Code.ShouldBe(ErrorCode.BadArgument);
    }
}
