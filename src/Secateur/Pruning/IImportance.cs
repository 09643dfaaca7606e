using Secateur.Data;

namespace Secateur.Pruning;

/// <summary>What a criterion may use besides the graph: calibration data and a seed.</summary>
/// <param name="Calibration">Batches for data-driven criteria (normalised like training data), or null.</param>
/// <param name="MaxBatches">How many calibration batches to use at most.</param>
/// <param name="Seed">Seed for random choices.</param>
/// <param name="Device">Device name for forward/backward passes ("cpu", "cuda").</param>
public sealed record ImportanceContext(IBatchSource? Calibration = null, int MaxBatches = 8, int Seed = 0, string Device = "cpu");

/// <summary>
/// A pruning criterion: scores every channel of every prunable group at once (data-driven criteria share
/// one pass over the calibration data). Higher scores mean more important; the lowest are pruned first.
/// Scores of different groups are comparable only where the criterion says so (global ranking normalises them).
/// </summary>
public interface IImportance
{
    /// <summary>Name the criterion is known by (<see cref="Importances.Create(string)"/> finds the built-in ones by it).</summary>
    string Name { get; }

    /// <summary>True when <see cref="ImportanceContext.Calibration"/> is required.</summary>
    bool NeedsData { get; }

    /// <summary>True when the criterion reads the calibration data's labels (a loss on them), so unlabelled data cannot feed it.</summary>
    bool NeedsLabels => false;

    /// <summary>One score per channel for each prunable group of <paramref name="dependencies"/>.</summary>
    IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context);
}
