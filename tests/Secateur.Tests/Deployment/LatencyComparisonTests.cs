using Secateur.Deployment;

namespace Secateur.Tests.Deployment;

/// <summary>The round statistics of a comparison and the ABBA round plan, on synthetic samples (no runtime, deterministic).</summary>
public sealed class LatencyComparisonTests
{
    private static IReadOnlyList<double> Runs(params double[] ms) => ms;

    [Fact]
    public void The_speedup_is_the_median_of_the_rounds_ratios_and_the_spread_their_quartiles()
    {
        // B takes 1 ms throughout; A's round medians are 0.9, 1.0, 1.1, 1.2 and, in a disturbed round, 2.0.
        IReadOnlyList<double>[] a = [Runs(0.9, 0.8, 5.0), Runs(1.0, 1.0, 1.0), Runs(1.1, 1.1, 0.2), Runs(1.2, 1.3, 1.1), Runs(2.0, 2.0, 2.0)];
        IReadOnlyList<double>[] b = [.. Enumerable.Repeat(Runs(1, 1, 1), 5)];
        var c = LatencyComparison.FromRounds(4, a, b);
        c.Batch.ShouldBe(4);
        c.Rounds.ShouldBe(5);
        c.RoundSpeedups.ShouldBe([0.9, 1.0, 1.1, 1.2, 2.0], 1e-12);
        c.Speedup.ShouldBe(1.1, 1e-12); // the disturbed round does not move it
        c.SpeedupLow.ShouldBe(1.0, 1e-12); // with five rounds the quartiles are the 2nd and 4th
        c.SpeedupHigh.ShouldBe(1.2, 1e-12);
        // A and B pool every round's runs.
        c.A.Runs.ShouldBe(15);
        c.A.MaxMs.ShouldBe(5.0);
        c.B.Runs.ShouldBe(15);
        c.B.P50Ms.ShouldBe(1);
    }

    [Fact]
    public void Swapping_the_models_inverts_the_speedup_and_its_spread_exactly()
    {
        // An even number of rounds: the median and quartiles fall between two rounds.
        IReadOnlyList<double>[] a = [Runs(2.0, 2.2), Runs(1.9), Runs(2.5, 2.4, 2.6), Runs(2.1)];
        IReadOnlyList<double>[] b = [Runs(1.0, 1.1), Runs(1.2), Runs(0.9, 1.0), Runs(1.05)];
        var ab = LatencyComparison.FromRounds(1, a, b);
        var ba = LatencyComparison.FromRounds(1, b, a);
        ba.Speedup.ShouldBe(1 / ab.Speedup, 1e-12);
        ba.SpeedupLow.ShouldBe(1 / ab.SpeedupHigh, 1e-12);
        ba.SpeedupHigh.ShouldBe(1 / ab.SpeedupLow, 1e-12);
        ab.SpeedupLow.ShouldBeLessThan(ab.Speedup);
        ab.Speedup.ShouldBeLessThan(ab.SpeedupHigh);
        // Between the two middle rounds' ratios, geometrically.
        double[] sorted = [.. ab.RoundSpeedups.Order()];
        ab.Speedup.ShouldBe(Math.Sqrt(sorted[1] * sorted[2]), 1e-12);
    }

    [Fact]
    public void Without_rounds_the_speedup_is_the_ratio_of_the_medians()
    {
        // The positional constructor callers had before rounds existed still means A's median ÷ B's.
        var c = new LatencyComparison(1, LatencyStats.FromSamples(1, [3, 4, 5]), LatencyStats.FromSamples(1, [2]));
        c.Rounds.ShouldBe(0);
        c.Speedup.ShouldBe(2);
        c.SpeedupLow.ShouldBe(2);
        c.SpeedupHigh.ShouldBe(2);
    }

    [Fact]
    public void Rounds_must_pair_up_and_hold_runs()
    {
        Should.Throw<ArgumentException>(() => LatencyComparison.FromRounds(1, [Runs(1)], [Runs(1), Runs(1)]));
        Should.Throw<ArgumentException>(() => LatencyComparison.FromRounds(1, [], []));
        Should.Throw<ArgumentException>(() => LatencyComparison.FromRounds(1, [Runs(1), Runs()], [Runs(1), Runs(1)]));
        Should.Throw<SecateurException>(() => new LatencyOptions { Rounds = 0 }.Validated()).Parameter.ShouldBe(nameof(LatencyOptions.Rounds));
    }

    [Theory]
    [InlineData(50, 5, new[] { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 })]
    [InlineData(15, 5, new[] { 2, 2, 2, 2, 2, 1, 1, 1, 1, 1 })]
    [InlineData(10, 5, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 })]
    [InlineData(3, 5, new[] { 2, 1 })]
    [InlineData(1, 5, new[] { 1, 0 })]
    [InlineData(12, 1, new[] { 6, 6 })]
    public void A_run_count_is_spread_exactly_over_the_rounds(int runs, int rounds, int[] halves)
    {
        var plan = new LatencyBenchmark.RoundPlan(new LatencyOptions { Runs = runs, Rounds = rounds }.Validated(), 0);
        var seen = new List<int>();
        int timed = 0;
        for (int r = 0; plan.Next(r, timed, TimeSpan.Zero) is var (first, second) && first > 0; r++)
        {
            seen.Add(first);
            seen.Add(second);
            timed += first + second;
        }
        seen.ShouldBe(halves);
        timed.ShouldBe(runs);
    }

    [Fact]
    public void A_time_budget_sizes_the_blocks_and_ends_at_a_round_boundary()
    {
        // 1 s over 5 rounds with A + B taking 10 ms a pair: a round is 2 (block + 1) pairs = 200 ms, so blocks of 9.
        var plan = new LatencyBenchmark.RoundPlan(new LatencyOptions { Seconds = 1 }.Validated(), 10);
        plan.Next(0, 0, TimeSpan.FromSeconds(5)).ShouldBe((9, 9)); // the first round always runs
        plan.Next(3, 54, TimeSpan.FromSeconds(0.7)).ShouldBe((9, 9));
        plan.Next(5, 90, TimeSpan.FromSeconds(1.0)).ShouldBe((0, 0));
        // A run count given as well is spread over the rounds (blocks of 2, not 9) and caps the runs.
        var capped = new LatencyBenchmark.RoundPlan(new LatencyOptions { Seconds = 1, Runs = 20 }.Validated(), 10);
        capped.Next(0, 0, TimeSpan.Zero).ShouldBe((2, 2));
        capped.Next(4, 16, TimeSpan.Zero).ShouldBe((2, 2));
        capped.Next(5, 20, TimeSpan.Zero).ShouldBe((0, 0));
        // The last round is cut to what is left.
        new LatencyBenchmark.RoundPlan(new LatencyOptions { Seconds = 1, Runs = 21 }.Validated(), 10).Next(5, 20, TimeSpan.Zero).ShouldBe((1, 0));
        // A model slower than the budget still gets one round of one run per block.
        new LatencyBenchmark.RoundPlan(new LatencyOptions { Seconds = 0.01 }.Validated(), 1000).Next(0, 0, TimeSpan.Zero).ShouldBe((1, 1));
    }

    [Fact]
    public void Rounds_run_A_B_B_A_with_an_untimed_run_first_in_every_block()
    {
        var order = new List<string>();
        int k = 0;
        double Run(string model) { order.Add(model); return ++k; }
        var plan = new LatencyBenchmark.RoundPlan(new LatencyOptions { Runs = 4, Rounds = 2 }.Validated(), 0);
        var reports = new List<(int, bool)>();
        var c = LatencyBenchmark.RunRounds(1, plan, () => Run("A"), () => Run("B"), () => TimeSpan.Zero, (t, d) => reports.Add((t, d)));
        // Two rounds of blocks of one timed run, each after an untimed one.
        string.Concat(order).ShouldBe("AABBBBAA" + "AABBBBAA");
        c.Rounds.ShouldBe(2);
        c.A.Runs.ShouldBe(4);
        c.B.Runs.ShouldBe(4);
        c.A.MinMs.ShouldBe(2); // run 1 was the untimed one
        reports[^1].ShouldBe((4, true));
    }

    [Fact]
    public void A_steady_drift_of_the_machine_cancels_in_ABBA_rounds()
    {
        // The same model twice on a machine that slows down by 1 % per run: alternating blocks A B would read
        // B as slower in every round; A B B A puts both medians at the same point of the drift.
        double clock = 0;
        double Run() => 1 + 0.01 * clock++;
        var plan = new LatencyBenchmark.RoundPlan(new LatencyOptions { Runs = 60, Rounds = 5 }.Validated(), 0);
        var c = LatencyBenchmark.RunRounds(1, plan, Run, Run, () => TimeSpan.Zero, null);
        c.Rounds.ShouldBe(5);
        foreach (var r in c.RoundSpeedups) r.ShouldBe(1, 1e-12);
        c.Speedup.ShouldBe(1, 1e-12);
    }
}
