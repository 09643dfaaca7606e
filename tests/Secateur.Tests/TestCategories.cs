namespace Secateur.Tests;

/// <summary>
/// Values of the <c>Category</c> trait. CI runs everything; locally the fast subset is
/// <c>dotnet test tests/Secateur.Tests -c Release --filter "Category!=Slow&amp;Category!=Timing"</c>.
/// </summary>
internal static class TestCategories
{
    /// <summary>About a second or more on the 2-core reference machine (training, big zoo models, many fixtures).</summary>
    public const string Slow = "Slow";

    /// <summary>Measures wall time, latency or page faults: its outcome depends on machine load (runs in <see cref="TimingCollection"/>).</summary>
    public const string Timing = "Timing";

    /// <summary>Runs the <c>secateur</c> command line end to end (in process).</summary>
    public const string Cli = "Cli";
}

/// <summary>
/// Tests whose outcome depends on wall time or on process-wide state (latency, page faults, libtorch's thread count):
/// they run one at a time, after the parallel collections, so CPU-heavy tests never run beside them.
/// </summary>
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection;
