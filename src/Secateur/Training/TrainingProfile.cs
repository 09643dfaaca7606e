using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Secateur.Training;

/// <summary>
/// Where a <see cref="Trainer"/>'s time goes, phase by phase: waiting for the batch (loading and augmentation),
/// copying it into tensors, forward, loss, backward, optimizer step, metrics, progress reporting and the per-batch
/// dispose scope, plus the .NET garbage collections and their pauses over the same span. Give one to
/// <see cref="Trainer.Profile"/>; it costs two timestamps per phase. On the CPU libtorch runs every op synchronously,
/// so a phase's wall time is the time of its work (on a GPU a phase would include waits for earlier work).
/// </summary>
public sealed class TrainingProfile
{
    /// <summary>The phases, in the order a training step runs them.</summary>
    public static readonly IReadOnlyList<string> PhaseNames =
        ["data", "to-tensor", "zero-grad", "forward", "loss", "backward", "optimizer", "metrics", "dispose", "progress"];

    private readonly long[] _ticks = new long[PhaseNames.Count];
    private long _start, _gcPauseStart;
    private readonly int[] _gcStart = new int[3];
    private int _skip;

    /// <summary>Creates a profile that ignores the first <paramref name="skipBatches"/> batches (warm-up).</summary>
    public TrainingProfile(int skipBatches = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skipBatches);
        _skip = skipBatches;
    }

    /// <summary>Batches measured (after the skipped ones).</summary>
    public int Batches { get; private set; }

    /// <summary>Images in the measured batches.</summary>
    public long Images { get; private set; }

    /// <summary>Wall time from the first measured batch to the end of the last.</summary>
    public TimeSpan Total { get; private set; }

    /// <summary>Garbage collections of generations 0, 1 and 2 during the measured batches.</summary>
    public IReadOnlyList<int> Collections { get; private set; } = [0, 0, 0];

    /// <summary>Total time the GC paused the process during the measured batches (included in the phases it interrupted).</summary>
    public TimeSpan GcPause { get; private set; }

    /// <summary>Time per phase over the measured batches, by <see cref="PhaseNames"/>.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Phases =>
        PhaseNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => Stopwatch.GetElapsedTime(0, _ticks[p.i]));

    internal bool Measuring => _skip == 0;

    internal static long Now() => Stopwatch.GetTimestamp();

    /// <summary>Adds the time since <paramref name="since"/> to phase <paramref name="phase"/> and returns now.</summary>
    internal long Lap(int phase, long since)
    {
        long now = Stopwatch.GetTimestamp();
        if (_skip == 0) _ticks[phase] += now - since;
        return now;
    }

    /// <summary>Called before a batch is requested.</summary>
    internal void BatchStarting()
    {
        if (_skip != 0 || Batches != 0 || _start != 0) return;
        _start = Stopwatch.GetTimestamp();
        for (int g = 0; g < 3; g++) _gcStart[g] = GC.CollectionCount(g);
        _gcPauseStart = GC.GetTotalPauseDuration().Ticks;
    }

    /// <summary>Called after a batch's step and progress report.</summary>
    internal void BatchDone(int images)
    {
        if (_skip > 0) { _skip--; return; }
        Batches++;
        Images += images;
        Total = Stopwatch.GetElapsedTime(_start);
        Collections = [.. Enumerable.Range(0, 3).Select(g => GC.CollectionCount(g) - _gcStart[g])];
        GcPause = TimeSpan.FromTicks(GC.GetTotalPauseDuration().Ticks - _gcPauseStart);
    }

    /// <summary>A Markdown table: milliseconds per batch and share of the total for every phase, then the GC figures.</summary>
    public string ToTable()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| phase | ms / batch | share |").AppendLine("|---|---|---|");
        double total = Total.TotalMilliseconds, perBatch = Math.Max(1, Batches);
        double accounted = 0;
        foreach (var (name, time) in Phases)
        {
            accounted += time.TotalMilliseconds;
            sb.AppendLine(inv, $"| {name} | {time.TotalMilliseconds / perBatch:F2} | {time.TotalMilliseconds / Math.Max(1e-9, total):P1} |");
        }
        sb.AppendLine(inv, $"| (unaccounted) | {(total - accounted) / perBatch:F2} | {(total - accounted) / Math.Max(1e-9, total):P1} |");
        sb.AppendLine(inv, $"| **total** | {total / perBatch:F2} | {Images / Math.Max(1e-9, Total.TotalSeconds):F1} img/s |");
        sb.AppendLine(inv, $"GC: {Collections[0]} gen0, {Collections[1]} gen1, {Collections[2]} gen2 collections, {GcPause.TotalMilliseconds:F1} ms paused over {Batches} batches.");
        return sb.ToString();
    }
}
