using TorchSharp;

namespace Secateur.Tests;

/// <summary>DESIGN's native-memory rule as a measurement: repeating an operation must not grow the live tensor count.</summary>
internal static class LiveTensors
{
    /// <summary>
    /// Live tensors (TorchSharp's count for this thread) gained over <paramref name="repeats"/> runs of
    /// <paramref name="cycle"/>, after one untimed run that may create lasting state (caches, lazily built modules).
    /// </summary>
    public static long GrowthOver(Action cycle, int repeats = 3)
    {
        cycle();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < repeats; i++) cycle();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
    }
}
