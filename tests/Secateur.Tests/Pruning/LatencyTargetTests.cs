using System.Text.Json;
using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Tests.Cli;

namespace Secateur.Tests.Pruning;

public sealed class LatencyTargetTests
{
    private static PruningResult Prune(ModelGraph graph, LatencyBudget budget, AllocationKind kind = AllocationKind.Uniform, List<string>? log = null) =>
        Pruner.Prune(graph, new MagnitudeImportance(1), new PruningOptions
        {
            Target = new PruningTarget { Latency = budget },
            Allocation = new AllocationOptions(kind),
            Log = log is null ? null : log.Add,
        });

    [Fact]
    public void A_budget_above_the_dense_latency_keeps_the_dense_model()
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
        latency.DenseMs.ShouldBeGreaterThan(0);
        latency.PrunedMs.ShouldBeGreaterThan(0);
        log.ShouldContain(l => l.StartsWith("latency search: re-measured", StringComparison.Ordinal));
    }

    [Fact]
    public void An_impossible_budget_is_an_impossible_target()
    {
        var e = Should.Throw<SecateurException>(() => Prune(ModelZoo.Create("lenet5"), new LatencyBudget(1e-6, Threads: 1, Warmup: 0, Runs: 3)));
        e.Code.ShouldBe(ErrorCode.ImpossibleTarget);
        e.Message.ShouldContain("cannot be met");
        e.Message.ShouldContain("still measures");
    }

    [Theory]
    [InlineData(AllocationKind.Uniform)]
    [InlineData(AllocationKind.Global)]
    public void A_reachable_budget_gives_a_pruned_model_with_its_measured_latency(AllocationKind kind)
    {
        var graph = ModelZoo.Create("resnet20");
        const int batch = 8;
        var settings = new SessionSettings(1);
        var options = new LatencyOptions { BatchSizes = [batch], Warmup = 2, Runs = 15 };
        var smallest = Pruner.Prune(graph, new MagnitudeImportance(1), new PruningOptions { Target = new PruningTarget { Ratio = 0.9 } }).Pruned;
        PruningResult? result = null;
        double budget = 0;
        // A budget between the dense model and the most-pruned one, far from both (their geometric mean). On a
        // heavily loaded machine a measurement can still be off by more than that; such an attempt (budget met by
        // the dense model, or not even by the smallest) is repeated, at most three times in all.
        for (int attempt = 0; attempt < 3 && result is null; attempt++)
        {
            using (var a = OnnxRuntimeSession.FromGraph(graph, settings))
            using (var b = OnnxRuntimeSession.FromGraph(smallest, settings))
            {
                var ends = LatencyBenchmark.Compare(a, b, options).Single();
                budget = Math.Sqrt(ends.A.P50Ms * ends.B.P50Ms);
            }
            try
            {
                var r = Prune(graph, new LatencyBudget(budget, batch, Threads: 1, Warmup: 2, Runs: 15), kind);
                if (r.Plan.RemovedChannels > 0) result = r;
            }
            catch (SecateurException e) when (e.Code == ErrorCode.ImpossibleTarget)
            {
                // noise: try again
            }
        }
        result.ShouldNotBeNull("three attempts were all trivially met or impossible: measurements too noisy");
        var latency = result.Latency.ShouldNotBeNull();
        result.After.Macs.ShouldBeLessThan(result.Before.Macs);
        latency.Budget.Milliseconds.ShouldBe(budget);
        latency.DenseMs.ShouldBeGreaterThan(0);
        latency.PrunedMs.ShouldBeGreaterThan(0);
        latency.Speedup.ShouldBe(latency.DenseMs / latency.PrunedMs);
        latency.Candidates.Count.ShouldBeGreaterThan(2);
        latency.Candidates.Count.ShouldBeLessThanOrEqualTo(LatencySearch.Steps + 2);
        latency.Candidates[0].RemovedFraction.ShouldBe(0);
        foreach (var c in latency.Candidates) c.Met.ShouldBe(c.P50Ms <= budget);
        // The model returned is one the search measured within the budget, and the least pruned of those.
        var met = latency.Candidates.Where(c => c.Met).ToList();
        met.ShouldContain(c => c.Macs == result.After.Macs);
        result.After.Macs.ShouldBe(met.Max(c => c.Macs));
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
            latency.GetProperty("denseMs").GetDouble().ShouldBeGreaterThan(0);
            latency.GetProperty("prunedMs").GetDouble().ShouldBeGreaterThan(0);
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
