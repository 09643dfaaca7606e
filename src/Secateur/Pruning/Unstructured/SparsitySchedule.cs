using Secateur.Graph;

namespace Secateur.Pruning.Unstructured;

/// <summary>How weight-level sparsity is reached over time.</summary>
public enum SparsityScheduleKind
{
    /// <summary>All at once, then fine-tuning.</summary>
    OneShot,
    /// <summary>N steps, each removing the same fraction of the remaining weights, fine-tuning after each.</summary>
    Iterative,
    /// <summary>Zhu and Gupta's automated gradual pruning: s_t = s_f + (s_i − s_f)(1 − t/n)³, fine-tuning after each step.</summary>
    Agp,
    /// <summary>
    /// Lottery ticket with rewinding (Frankle and Carbin 2019; Frankle et al. 2020): train, prune a fraction of the
    /// remaining weights, reset the survivors to their values at the end of epoch k, retrain; N rounds.
    /// </summary>
    Lottery,
}

/// <summary>Schedule settings.</summary>
/// <param name="Kind">Schedule.</param>
/// <param name="Steps">Steps (iterative, AGP) or rounds (lottery).</param>
/// <param name="RewindEpoch">Lottery: the epoch whose end weights survivors are reset to (0: the initial weights).</param>
public sealed record SparsityScheduleOptions(SparsityScheduleKind Kind = SparsityScheduleKind.OneShot, int Steps = 4, int RewindEpoch = 0)
{
    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) naming the first invalid value.</summary>
    public SparsityScheduleOptions Validated()
    {
        if (Steps < 1) throw new SecateurException(ErrorCode.BadArgument, $"a schedule needs at least 1 step (got {Steps})", nameof(Steps));
        if (RewindEpoch < 0) throw new SecateurException(ErrorCode.BadArgument, $"the rewind epoch must be at least 0 (got {RewindEpoch})", nameof(RewindEpoch));
        return this;
    }
}

/// <summary>What a training callback returns.</summary>
/// <param name="Trained">The graph after training (masked weights still zero).</param>
/// <param name="Rewind">The weights at the end of the requested rewind epoch, when one was requested.</param>
public sealed record MaskedTraining(ModelGraph Trained, ModelGraph? Rewind = null);

/// <summary>
/// Trains <paramref name="graph"/> with <paramref name="masks"/> held fixed (none: dense training); when
/// <paramref name="rewindEpoch"/> is given, also returns the weights at the end of that epoch.
/// </summary>
/// <param name="step">1-based schedule step (0: the lottery's dense training).</param>
/// <param name="graph">The graph to train, masked weights already zero.</param>
/// <param name="masks">Masks to keep fixed, or null.</param>
/// <param name="rewindEpoch">Epoch (≥ 1) whose end weights to capture, or null.</param>
public delegate MaskedTraining MaskedTrainer(int step, ModelGraph graph, WeightMasks? masks, int? rewindEpoch);

/// <summary>One step of a sparsity schedule.</summary>
/// <param name="Step">1-based step (0: the lottery's dense training).</param>
/// <param name="TargetSparsity">Sparsity of the considered weights the step aimed at.</param>
/// <param name="Sparsity">Sparsity of the considered weights reached.</param>
/// <param name="NonZeroParams">Non-zero parameters after the step.</param>
/// <param name="AccuracyPruned">Validation accuracy right after the step's pruning, when measured.</param>
/// <param name="Accuracy">Validation accuracy after the step's (re)training, when measured.</param>
/// <param name="Note">What happened.</param>
public sealed record SparsityStep(int Step, double TargetSparsity, double Sparsity, long NonZeroParams, double? AccuracyPruned, double? Accuracy, string Note);

/// <summary>The outcome of a sparsity schedule.</summary>
/// <param name="Graph">The sparse (and fine-tuned) graph: pruned weights are zero.</param>
/// <param name="Masks">The final masks.</param>
/// <param name="Weights">The weights considered.</param>
/// <param name="Steps">Every step.</param>
/// <param name="Report">Sparsity of <paramref name="Graph"/>.</param>
public sealed record SparsityResult(ModelGraph Graph, WeightMasks Masks, IReadOnlyList<string> Weights, IReadOnlyList<SparsityStep> Steps, SparsityReport Report);

/// <summary>Runs one-shot, iterative, AGP and lottery-ticket schedules of weight-level pruning.</summary>
public static class SparsitySchedule
{
    /// <summary>
    /// Sparsity after each step: one-shot [s]; iterative and lottery 1 − (1 − s)^(k/n) (the same fraction of the
    /// remaining weights each step); AGP s + (0 − s)(1 − k/n)³ (fast early, gentle late).
    /// </summary>
    public static IReadOnlyList<double> Targets(SparsityScheduleKind kind, double sparsity, int steps)
    {
        if (kind == SparsityScheduleKind.OneShot || steps <= 1) return [sparsity];
        var targets = new List<double>();
        for (int k = 1; k <= steps; k++)
        {
            double t = k / (double)steps;
            targets.Add(k == steps ? sparsity
                : kind == SparsityScheduleKind.Agp ? sparsity + (0 - sparsity) * Math.Pow(1 - t, 3)
                : 1 - Math.Pow(1 - sparsity, t));
        }
        return targets;
    }

    /// <summary>Runs the schedule.</summary>
    /// <param name="graph">The dense graph (for the lottery, the weights training starts from).</param>
    /// <param name="options">What to prune.</param>
    /// <param name="schedule">Schedule settings (N:M only one-shot).</param>
    /// <param name="train">Trains with fixed masks (fine-tuning; for the lottery, also the dense training and retraining).</param>
    /// <param name="validate">Validation accuracy of a graph, or null when there is no data.</param>
    /// <param name="log">Receives one line per step.</param>
    public static SparsityResult Run(ModelGraph graph, SparsityOptions options, SparsityScheduleOptions schedule, MaskedTrainer train,
        Func<ModelGraph, double?> validate, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validate);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        schedule = (schedule ?? throw new ArgumentNullException(nameof(schedule))).Validated();
        if (options.Nm is not null && schedule.Kind != SparsityScheduleKind.OneShot)
            throw new SecateurException(ErrorCode.BadArgument, "N:M sparsity works with the OneShot schedule only (the pattern is fixed; fine-tune after it)", nameof(SparsityOptions.Nm));
        var weights = MagnitudePruner.Weights(graph, options).Select(w => w.Weight).ToList();
        var steps = new List<SparsityStep>();
        var current = graph;
        ModelGraph? rewind = null;
        if (schedule.Kind == SparsityScheduleKind.Lottery)
        {
            // Round 0: dense training, remembering the weights at the end of epoch k (k = 0: the starting weights).
            var dense = train(0, graph, null, schedule.RewindEpoch > 0 ? schedule.RewindEpoch : null);
            rewind = schedule.RewindEpoch > 0
                ? dense.Rewind ?? throw new InvalidOperationException($"the trainer did not return the weights of epoch {schedule.RewindEpoch}")
                : graph;
            current = dense.Trained;
            var r0 = SparsityReport.Compute(current);
            double? a0 = validate(current);
            steps.Add(new SparsityStep(0, 0, Considered(r0, weights), r0.NonZeroParams, null, a0, "dense training"));
            log?.Invoke($"round 0: dense training{(a0 is { } x ? $", accuracy {x:P2}" : "")}");
        }
        var targets = options.Nm is { } nm ? [nm.Sparsity] : Targets(schedule.Kind, options.Sparsity, schedule.Steps);
        WeightMasks? masks = null;
        for (int k = 0; k < targets.Count; k++)
        {
            masks = MagnitudePruner.Masks(current, options with { Sparsity = options.Nm is null ? targets[k] : options.Sparsity }, masks);
            var pruned = masks.Apply(current);
            double? accPruned = validate(pruned);
            // The lottery resets the survivors to the rewind weights; the others fine-tune what they pruned.
            var start = rewind is null ? pruned : masks.Apply(rewind);
            var trained = train(k + 1, start, masks, null).Trained;
            bool wasTrained = !ReferenceEquals(trained, start);
            // Whatever the trainer did, the result honours the masks exactly.
            current = masks.IsSatisfiedBy(trained) ? trained : masks.Apply(trained);
            var report = SparsityReport.Compute(current);
            double? acc = validate(current);
            string note = schedule.Kind == SparsityScheduleKind.Lottery ? $"round {k + 1}: pruned, rewound to epoch {schedule.RewindEpoch}, retrained"
                : wasTrained ? $"step {k + 1}: pruned, fine-tuned" : $"step {k + 1}: pruned (no fine-tuning)";
            steps.Add(new SparsityStep(k + 1, targets[k], Considered(report, weights), report.NonZeroParams, accPruned, acc, note));
            log?.Invoke(FormattableString.Invariant($"{note}: sparsity {Considered(report, weights):P2} of the considered weights, {report.NonZeroParams:N0} non-zero params")
                        + (acc is { } a ? FormattableString.Invariant($", accuracy {accPruned:P2} -> {a:P2}") : ""));
        }
        return new SparsityResult(current, masks!, weights, steps, SparsityReport.Compute(current));
    }

    private static double Considered(SparsityReport report, IReadOnlyList<string> weights)
    {
        var set = weights.ToHashSet(StringComparer.Ordinal);
        var layers = report.Layers.Where(l => set.Contains(l.Weight)).ToList();
        long n = layers.Sum(l => l.Count);
        return n == 0 ? 0 : 1 - layers.Sum(l => l.NonZero) / (double)n;
    }
}
