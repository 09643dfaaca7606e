using Secateur.Deployment;
using Secateur.Models;
using Xunit.Abstractions;

namespace Secateur.Tests.Deployment;

// Timing on the real runtime: nothing else of the suite may run meanwhile (xunit runs collections that disable
// parallelisation after the parallel ones, one at a time).
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection;

/// <summary>
/// Issue 18's acceptance test: a model compared with itself reads 1.00 ± 0.03 at every batch size and thread
/// count, on the real ONNX Runtime; and the cause it had, idle sessions' spinning worker threads, is gone.
/// </summary>
[Collection(nameof(TimingCollection))]
[Trait("Category", "Timing")]
public sealed class LatencyTimingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 2)]
    [InlineData(8, 1)]
    [InlineData(8, 2)]
    public void A_model_against_itself_reads_one(int batch, int threads)
    {
        // Two sessions over the same bytes, as comparing a file with itself opens them.
        var onnx = BenchmarkModel.FromGraph(ModelZoo.Create("resnet20"));
        using var a = onnx.Open(new SessionSettings(threads));
        using var b = onnx.Open(new SessionSettings(threads));
        // 27 rounds: the median over rounds must not move with one burst of load from other processes (a CI machine
        // is quiet, a developer's may not be); the old comparison's bias was systematic, which more rounds do not hide.
        var c = LatencyBenchmark.Compare(a, b, new LatencyOptions { BatchSizes = [batch], Warmup = 10, Runs = 270, Rounds = 27 }).Single();
        output.WriteLine(FormattableString.Invariant(
            $"batch {batch}, {threads} threads: A p50 {c.A.P50Ms:0.000} ms, B p50 {c.B.P50Ms:0.000} ms, speed-up {c.Speedup:0.000} ({c.SpeedupLow:0.000}-{c.SpeedupHigh:0.000}), rounds {string.Join(' ', c.RoundSpeedups.Select(r => r.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)))}"));
        c.Rounds.ShouldBe(27);
        c.Speedup.ShouldBe(1, 0.03);
    }

    [SkippableFact]
    public void An_idle_session_leaves_the_cores_alone()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "reads the threads' CPU time from /proc");
        var onnx = BenchmarkModel.FromGraph(ModelZoo.Create("resnet20"));
        double quietCores = IdleCores(() => onnx.Open(new SessionSettings(2)));
        double spinningCores = IdleCores(() => onnx.Open(new SessionSettings(2) { SpinBetweenRuns = true }));
        output.WriteLine(FormattableString.Invariant($"a session's worker threads in the 5 ms after a run: {quietCores:0.00} cores sleeping between runs, {spinningCores:0.00} spinning"));
        quietCores.ShouldBeLessThan(0.02);
        // The probe sees spinning when there is some (ORT's default kept 0.4-1.0 of a core busy on the 2-core machine, and 0.08 while other jobs kept its load average above 20).
        spinningCores.ShouldBeGreaterThan(0.04);
    }

    /// <summary>
    /// Median share of a core that the session's own threads (those that appeared while it was opened) used while
    /// the caller slept 5 ms after a run, over 15 runs. Only those threads count: other tests' libtorch and ORT
    /// threads may be winding down in the same process.
    /// </summary>
    private static double IdleCores(Func<OnnxRuntimeSession> open)
    {
        var before = ThreadCpuMs().Keys.ToHashSet();
        using var session = open();
        var workers = ThreadCpuMs().Keys.Where(t => !before.Contains(t)).ToHashSet();
        workers.Count.ShouldBeGreaterThan(0, "a 2-thread session has a worker thread");
        double Busy() => ThreadCpuMs().Where(t => workers.Contains(t.Key)).Sum(t => t.Value);
        var shape = session.InputShape(1);
        var input = new float[Secateur.Graph.TensorData.ElementCount(shape)];
        var shares = new List<double>();
        for (int i = 0; i < 15; i++)
        {
            session.Run(input, shape);
            double cpu0 = Busy();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            Thread.Sleep(5);
            shares.Add((Busy() - cpu0) / System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return LatencyStats.Percentile(shares.Order().ToArray(), 0.5);
    }

    /// <summary>CPU time of each of the process's threads, from /proc/self/task/*/schedstat (nanoseconds; /proc's stat counts 10 ms ticks).</summary>
    private static Dictionary<int, double> ThreadCpuMs()
    {
        var times = new Dictionary<int, double>();
        foreach (var dir in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                var ns = File.ReadAllText(Path.Combine(dir, "schedstat")).Split(' ')[0];
                times[int.Parse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture)] = double.Parse(ns, System.Globalization.CultureInfo.InvariantCulture) / 1e6;
            }
            catch (IOException)
            {
                // The thread ended while the directory was listed.
            }
        }
        return times;
    }
}
