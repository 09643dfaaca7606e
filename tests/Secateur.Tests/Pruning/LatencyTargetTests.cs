using System.Text.Json;
using Secateur.Analysis;
using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Tests.Cli;

namespace Secateur.Tests.Pruning;

// Real ONNX Runtime timings (the smoke and CLI tests) and libtorch's thread count (--threads 1) are process-wide.
[Collection(nameof(TimingCollection))]
public sealed class LatencyTargetTests
{
    private static PruningResult Prune(ModelGraph graph, LatencyBudget budget, AllocationKind kind = AllocationKind.Uniform, List<string>? log = null) =>
        Pruner.Prune(graph, new MagnitudeImportance(1), new PruningOptions
        {
            Target = new PruningTarget { Latency = budget },
            Allocation = new AllocationOptions(kind),
            Log = log is null ? null : log.Add,
        });

    /// <summary>
    /// A deterministic stand-in for ONNX Runtime: latency grows linearly with MACs (plus an optional bump), so the
    /// search's logic is tested without timing noise. It records what it was asked to measure.
    /// </summary>
    private sealed class FakeMeasurer(double fixedMs, double msPerMegaMac, Func<long, double>? bump = null) : ILatencyMeasurer
    {
        public List<long> Measured { get; } = [];
        public List<(ModelGraph Dense, ModelGraph Pruned)> Compared { get; } = [];

        public double Ms(ModelGraph graph)
        {
            long macs = ModelStats.Compute(graph).Macs;
            return fixedMs + msPerMegaMac * macs / 1e6 + (bump?.Invoke(macs) ?? 0);
        }

        public double MedianMs(ModelGraph graph, LatencyBudget budget)
        {
            Measured.Add(ModelStats.Compute(graph).Macs);
            return Ms(graph);
        }

        public LatencyComparison Compare(ModelGraph dense, ModelGraph pruned, LatencyBudget budget)
        {
            Compared.Add((dense, pruned));
            return new LatencyComparison(budget.Batch, LatencyStats.FromSamples(budget.Batch, [Ms(dense)]), LatencyStats.FromSamples(budget.Batch, [Ms(pruned)]));
        }
    }

    // ResNet-20 at 28x28 has 31.0 M MACs: 1 + 31.0 = 32.0 ms dense with this fake.
    private static FakeMeasurer Linear() => new(1, 1);

    [Theory]
    [InlineData(AllocationKind.Uniform)]
    [InlineData(AllocationKind.Global)]
    public void Bisection_returns_the_least_pruned_candidate_within_the_budget(AllocationKind kind)
    {
        var graph = ModelZoo.Create("resnet20");
        var fake = Linear();
        double dense = fake.Ms(graph);
        double budget = 1 + (dense - 1) / 3; // needs about two thirds of the MACs gone
        var result = Prune(graph, new LatencyBudget(budget, Batch: 4) { Measurer = fake }, kind);
        var latency = result.Latency.ShouldNotBeNull();

        // Each distinct candidate is measured once: dense, most pruned, then at most Steps bisection points.
        fake.Measured.Count.ShouldBe(latency.Candidates.Count);
        latency.Candidates.Count.ShouldBeInRange(3, LatencySearch.Steps + 2);
        latency.Candidates[0].RemovedFraction.ShouldBe(0);
        latency.Candidates[0].Met.ShouldBeFalse();
        foreach (var c in latency.Candidates) c.Met.ShouldBe(c.P50Ms <= budget);
        // The returned model is the least pruned measured candidate within the budget ...
        var met = latency.Candidates.Where(c => c.Met).ToList();
        result.After.Macs.ShouldBe(met.Max(c => c.Macs));
        fake.Ms(result.Pruned).ShouldBeLessThanOrEqualTo(budget);
        // ... and bisection converged: it sits just under the budget (the fake is exact, so only the level's
        // resolution and the rounding of channel counts to multiples of 8 separate them), with a slower candidate
        // just above it.
        fake.Ms(result.Pruned).ShouldBeGreaterThan(budget * 0.9);
        latency.Candidates.Where(c => !c.Met).Min(c => c.P50Ms).ShouldBeLessThan(budget * 1.1);
        // The final figures come from one side-by-side comparison of the input graph and the chosen one.
        fake.Compared.Count.ShouldBe(1);
        fake.Compared[0].Dense.ShouldBeSameAs(graph);
        ModelStats.Compute(fake.Compared[0].Pruned).Macs.ShouldBe(result.After.Macs);
        latency.DenseMs.ShouldBe(dense);
        latency.PrunedMs.ShouldBe(fake.Ms(result.Pruned));
        latency.WithinBudget.ShouldBeTrue();
        latency.Speedup.ShouldBe(dense / fake.Ms(result.Pruned), 1e-12);
    }

    [Fact]
    public void A_budget_the_dense_model_meets_keeps_it_after_one_measurement()
    {
        var graph = ModelZoo.Create("resnet20");
        var fake = Linear();
        var result = Prune(graph, new LatencyBudget(fake.Ms(graph) + 0.5) { Measurer = fake });
        result.Plan.RemovedChannels.ShouldBe(0);
        result.After.Macs.ShouldBe(result.Before.Macs);
        fake.Measured.ShouldBe([result.Before.Macs]);
        result.Latency.ShouldNotBeNull().Candidates.ShouldHaveSingleItem().Met.ShouldBeTrue();
        fake.Compared.ShouldHaveSingleItem().Pruned.ShouldBeSameAs(graph);
    }

    [Fact]
    public void A_budget_even_the_most_pruned_model_misses_is_an_impossible_target_after_two_measurements()
    {
        var graph = ModelZoo.Create("resnet20");
        var fake = new FakeMeasurer(10, 1);
        var e = Should.Throw<SecateurException>(() => Prune(graph, new LatencyBudget(5) { Measurer = fake })); // the fixed cost alone is 10 ms
        e.Code.ShouldBe(ErrorCode.ImpossibleTarget);
        e.Message.ShouldContain("cannot be met");
        e.Message.ShouldContain("still measures");
        fake.Measured.Count.ShouldBe(2); // dense, then the most pruning allowed; no bisection
        fake.Measured[1].ShouldBeLessThan(fake.Measured[0]);
        fake.Compared.ShouldBeEmpty();
    }

    [Fact]
    public void A_non_monotonic_measurer_still_gets_a_candidate_it_measured_within_the_budget()
    {
        // A latency bump (e.g. a kernel switch) in the middle of the range: bisection may miss the best point,
        // but what it returns must be a candidate it measured within the budget, never an unmeasured guess.
        var graph = ModelZoo.Create("resnet20");
        var fake = new FakeMeasurer(1, 1, macs => macs is > 8_000_000 and < 20_000_000 ? 30 : 0);
        double budget = 1 + ModelStats.Compute(graph).Macs / 1e6 / 3;
        var result = Prune(graph, new LatencyBudget(budget) { Measurer = fake });
        var latency = result.Latency.ShouldNotBeNull();
        latency.Candidates.ShouldContain(c => c.Met && c.Macs == result.After.Macs);
        fake.Ms(result.Pruned).ShouldBeLessThanOrEqualTo(budget);
        result.After.Macs.ShouldBeLessThan(result.Before.Macs);
    }

    [Fact]
    public void The_measurer_is_not_part_of_the_reported_budget()
    {
        var json = JsonSerializer.Serialize(new LatencyBudget(2) { Measurer = Linear() });
        json.ShouldNotContain("Measurer", Case.Insensitive);
        json.ShouldContain("\"Milliseconds\":2");
    }

    // The one test of the real ONNX Runtime path of the search (the CLI test below is another, end to end): a
    // budget no run can miss, so it cannot flake, yet every measurement and the final comparison really run.
    [Fact]
    [Trait("Category", TestCategories.Timing)]
    public void Onnx_runtime_smoke_a_budget_above_the_dense_latency_keeps_the_dense_model()
    {
        var graph = ModelZoo.Create("lenet5");
        var log = new List<string>();
        var result = Prune(graph, new LatencyBudget(10_000, Threads: 1, Warmup: 1, Runs: 5), log: log);
        result.Plan.RemovedChannels.ShouldBe(0);
        result.After.Macs.ShouldBe(result.Before.Macs);
        var latency = result.Latency.ShouldNotBeNull();
        latency.Candidates.Count.ShouldBe(1); // only the dense model had to be measured
        latency.Candidates[0].RemovedFraction.ShouldBe(0);
        latency.Candidates[0].Met.ShouldBeTrue();
        // A LeNet-5 batch takes microseconds to a few milliseconds, never nothing and never seconds.
        latency.DenseMs.ShouldBeInRange(1e-4, 1000);
        latency.PrunedMs.ShouldBeInRange(1e-4, 1000);
        log.ShouldContain(l => l.StartsWith("latency search: re-measured", StringComparison.Ordinal));
    }

    [Fact]
    public void Latency_budgets_are_validated_and_exclusive()
    {
        Should.Throw<SecateurException>(() => new PruningTarget { Latency = new LatencyBudget(0) }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new PruningTarget { Latency = new LatencyBudget(1, Batch: 0) }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new PruningTarget { Speedup = 2, Latency = new LatencyBudget(1) }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => PruningSchedule.Run(ModelZoo.Create("lenet5"), new MagnitudeImportance(1),
            new PruningOptions { Target = new PruningTarget { Latency = new LatencyBudget(1) } }, new ScheduleOptions(PruningScheduleKind.Iterative),
            (_, g, _) => g, _ => null)).Code.ShouldBe(ErrorCode.BadArgument);
    }

    [Fact]
    [Trait("Category", TestCategories.Timing)]
    [Trait("Category", TestCategories.Cli)]
    public void Prune_cli_reports_dense_and_pruned_latency()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-latency");
        try
        {
            var output = Path.Combine(dir.FullName, "lenet.onnx");
            var (code, stdout, stderr) = CliTests.Run("prune", "lenet5", "--target-latency", "10000", "--threads", "1", "-o", output, "--json");
            code.ShouldBe(0, stderr);
            stderr.ShouldContain("latency search:");
            using var doc = JsonDocument.Parse(stdout);
            var latency = doc.RootElement.GetProperty("latency");
            latency.GetProperty("denseMs").GetDouble().ShouldBeInRange(1e-4, 1000); // measured, and a LeNet-5 batch takes well under a second
            latency.GetProperty("prunedMs").GetDouble().ShouldBeInRange(1e-4, 1000);
            latency.GetProperty("budget").GetProperty("milliseconds").GetDouble().ShouldBe(10000);
            doc.RootElement.GetProperty("macsAfter").GetInt64().ShouldBe(doc.RootElement.GetProperty("macsBefore").GetInt64());
            File.Exists(output).ShouldBeTrue();

            (code, _, stderr) = CliTests.Run("prune", "lenet5", "--target-latency", "0.000001", "--threads", "1", "-o", output);
            code.ShouldBe((int)ErrorCode.ImpossibleTarget);
            stderr.Trim().Split('\n').Last().ShouldStartWith("error: the target (p50 latency");
            (code, _, stderr) = CliTests.Run("prune", "lenet5", "--target-latency", "5", "--speedup", "2");
            code.ShouldBe((int)ErrorCode.BadArgument, stderr);
        }
        finally { dir.Delete(true); }
    }
}
