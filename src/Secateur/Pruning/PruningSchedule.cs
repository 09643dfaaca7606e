using System.Globalization;
using Secateur.Analysis;
using Secateur.Graph;

namespace Secateur.Pruning;

/// <summary>How pruning is spread over time.</summary>
public enum PruningScheduleKind
{
    /// <summary>Everything at once.</summary>
    OneShot,
    /// <summary>N equal steps (in log-MACs), fine-tuning between them.</summary>
    Iterative,
    /// <summary>Zhu and Gupta's automated gradual pruning: removed fraction r_f·(1 − (1 − k/N)³), fast early, gentle late.</summary>
    Agp,
    /// <summary>
    /// Iterative steps that watch validation accuracy (without labels: agreement with the unpruned model) and back off
    /// (smaller step, more fine-tuning) when it drops more than a tolerance.
    /// </summary>
    Dynamic,
}

/// <summary>How the pruning target is reached over time: in one shot, in equal or AGP steps, or dynamically with back-off (not the learning-rate schedule).</summary>
/// <param name="Kind">One-shot, iterative, AGP or dynamic.</param>
/// <param name="Steps">Number of steps (not one-shot).</param>
/// <param name="Tolerance">Dynamic: largest accepted drop of validation accuracy against the unpruned model (0.01 = one point).</param>
/// <param name="MaxRetries">Dynamic: how many times a step may be halved before the schedule stops.</param>
public sealed record ScheduleOptions(PruningScheduleKind Kind = PruningScheduleKind.OneShot, int Steps = 4, double Tolerance = 0.01, int MaxRetries = 3)
{
    /// <summary>Checks the values.</summary>
    public ScheduleOptions Validated()
    {
        if (Steps < 1) throw new SecateurException(ErrorCode.BadArgument, $"a schedule needs at least 1 step (got {Steps})", nameof(Steps));
        if (Tolerance is < 0 or >= 1) throw new SecateurException(ErrorCode.BadArgument, $"the accuracy-drop tolerance must be in [0, 1) (got {Tolerance})", nameof(Tolerance));
        return this;
    }
}

/// <summary>One step of a schedule.</summary>
/// <param name="Step">1-based step.</param>
/// <param name="TargetMacs">MACs budget of the step (or params budget for a params target).</param>
/// <param name="Macs">MACs reached.</param>
/// <param name="Params">Parameters reached.</param>
/// <param name="Accuracy">Validation accuracy (without training labels: agreement score with the unpruned model) after the step's fine-tuning, when measured.</param>
/// <param name="Accepted">False when the dynamic schedule rejected the step and backed off.</param>
/// <param name="Note">What the schedule decided.</param>
public sealed record ScheduleStep(int Step, long TargetMacs, long Macs, long Params, double? Accuracy, bool Accepted, string Note);

/// <summary>The outcome of a schedule.</summary>
/// <param name="Graph">The final pruned (and fine-tuned) graph.</param>
/// <param name="Steps">Every step tried.</param>
/// <param name="ReachedTarget">Whether the final target was met.</param>
/// <param name="Stop">Why the schedule stopped.</param>
public sealed record ScheduleResult(ModelGraph Graph, IReadOnlyList<ScheduleStep> Steps, bool ReachedTarget, string Stop)
{
    /// <summary>For a latency target (one-shot): measured latencies of the dense and pruned model, and the search.</summary>
    public LatencySearchResult? Latency { get; init; }

    /// <summary>
    /// Channels of every prunable group of the unpruned graph before and after the whole schedule, composed from
    /// each accepted step's <see cref="PruningResult.Groups"/> (group names survive pruning).
    /// </summary>
    public IReadOnlyList<GroupChange> Groups { get; init; } = [];
}

/// <summary>Runs one-shot, iterative, AGP and dynamic pruning schedules over <see cref="Pruner"/>.</summary>
public static class PruningSchedule
{
    /// <summary>Slack on the accuracy-drop comparison, far below one image in a million.</summary>
    private const double ToleranceEpsilon = 1e-9;

    /// <summary>Budgets (MACs or params, whichever the target uses) of each step, from the base count to the final budget.</summary>
    public static IReadOnlyList<long> Budgets(PruningScheduleKind kind, long baseCount, long finalBudget, int steps)
    {
        if (kind == PruningScheduleKind.OneShot || steps <= 1) return [finalBudget];
        double finalRemoved = 1 - finalBudget / (double)baseCount;
        var budgets = new List<long>();
        for (int k = 1; k <= steps; k++)
        {
            double t = k / (double)steps;
            double keep = kind == PruningScheduleKind.Agp
                ? 1 - finalRemoved * (1 - Math.Pow(1 - t, 3))
                : Math.Pow(finalBudget / (double)baseCount, t); // equal steps in log space: the same speed-up factor each step
            budgets.Add(k == steps ? finalBudget : (long)Math.Round(baseCount * keep));
        }
        return budgets;
    }

    /// <summary>Runs the schedule.</summary>
    /// <param name="graph">The unpruned graph.</param>
    /// <param name="importance">Criterion.</param>
    /// <param name="options">Target (ratio targets only for one-shot), allocation, exclusions, criterion context.</param>
    /// <param name="schedule">Schedule settings.</param>
    /// <param name="afterPrune">Recalibrates and fine-tunes a freshly pruned graph (step index, graph, retry count) and returns it.</param>
    /// <param name="validate">Validation accuracy of a graph, or null when there is no data (the dynamic schedule needs it).</param>
    /// <param name="log">Receives one line per decision.</param>
    /// <param name="measure">What <paramref name="validate"/> measures, for the decisions' wording: accuracy, or agreement with the unpruned model.</param>
    public static ScheduleResult Run(ModelGraph graph, IImportance importance, PruningOptions options, ScheduleOptions schedule,
        Func<int, ModelGraph, int, ModelGraph> afterPrune, Func<ModelGraph, double?> validate, Action<string>? log = null, string measure = "accuracy")
    {
        ArgumentNullException.ThrowIfNull(afterPrune);
        return Run(graph, importance, options, schedule, (int step, PruningResult pruning, int retry) => afterPrune(step, pruning.Pruned, retry), validate, log, measure);
    }

    /// <summary>Runs the schedule, handing every step's whole <see cref="PruningResult"/> (its plan too) to <paramref name="afterPrune"/>.</summary>
    /// <param name="graph">The unpruned graph.</param>
    /// <param name="importance">Criterion.</param>
    /// <param name="options">Target (ratio targets only for one-shot), allocation, exclusions, criterion context.</param>
    /// <param name="schedule">Schedule settings.</param>
    /// <param name="afterPrune">Recovers a freshly pruned step (step index, its pruning result, retry count) and returns the graph.</param>
    /// <param name="validate">Validation accuracy of a graph, or null when there is no data (the dynamic schedule needs it).</param>
    /// <param name="log">Receives one line per decision.</param>
    /// <param name="measure">What <paramref name="validate"/> measures, for the decisions' wording: accuracy, or agreement with the unpruned model.</param>
    public static ScheduleResult Run(ModelGraph graph, IImportance importance, PruningOptions options, ScheduleOptions schedule,
        Func<int, PruningResult, int, ModelGraph> afterPrune, Func<ModelGraph, double?> validate, Action<string>? log = null, string measure = "accuracy")
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(afterPrune);
        ArgumentNullException.ThrowIfNull(validate);
        schedule = schedule.Validated();
        var target = options.Target.Validated();
        if (schedule.Kind == PruningScheduleKind.OneShot)
        {
            var pruning = Pruner.Prune(graph, importance, options);
            var once = afterPrune(1, pruning, 0);
            var st = ModelStats.Compute(once);
            // The search met the budget, but the side-by-side re-measurement is the figure reported: judge by it.
            bool met = pruning.Latency is not { WithinBudget: false };
            string stop = met ? "target reached in one step" : string.Create(CultureInfo.InvariantCulture,
                $"the latency budget of {pruning.Latency!.Budget.Milliseconds:0.###} ms was missed: the pruned model re-measured at {pruning.Latency.PrunedMs:0.###} ms");
            return new ScheduleResult(once, [new ScheduleStep(1, st.Macs, st.Macs, st.Params, validate(once), met, "one-shot")], met, stop)
            {
                Latency = pruning.Latency,
                Groups = pruning.Groups,
            };
        }
        if (target.Ratio.HasValue || target.Latency is not null || target.Threshold.HasValue)
            throw new SecateurException(ErrorCode.BadArgument, "iterative, AGP and dynamic schedules need a speed-up, MACs or parameter target", nameof(PruningOptions.Target));
        var baseStats = ModelStats.Compute(graph);
        bool byParams = target.Params.HasValue;
        long baseCount = byParams ? baseStats.Params : baseStats.Macs;
        long finalBudget = target.Params ?? target.Macs ?? (long)Math.Floor(baseStats.Macs / target.Speedup!.Value);
        double? baseline = schedule.Kind == PruningScheduleKind.Dynamic ? validate(graph) : null;
        if (schedule.Kind == PruningScheduleKind.Dynamic && baseline is null)
            throw new SecateurException(ErrorCode.BadArgument, "the dynamic schedule watches validation accuracy, so it needs validation data", ParameterNames.Data);
        var budgets = new Queue<long>(Budgets(schedule.Kind, baseCount, finalBudget, schedule.Steps));
        var steps = new List<ScheduleStep>();
        var groups = new List<GroupChange>();
        var current = graph;
        long reached = baseCount;
        int step = 0, retries = 0;
        while (budgets.Count > 0)
        {
            long budget = budgets.Peek();
            step++;
            var stepOptions = options with { Target = byParams ? new PruningTarget { Params = budget } : new PruningTarget { Macs = budget } };
            ModelGraph candidate;
            PruningResult pruning;
            try
            {
                pruning = Pruner.Prune(current, importance, stepOptions);
                candidate = afterPrune(step, pruning, retries);
            }
            catch (SecateurException e) when (e.Code == ErrorCode.ImpossibleTarget)
            {
                log?.Invoke($"step {step}: {e.Message}");
                steps.Add(new ScheduleStep(step, budget, reached, ModelStats.Compute(current).Params, null, false, e.Message));
                return new ScheduleResult(current, steps, false, "stopped: the next budget cannot be reached by pruning further") { Groups = groups };
            }
            var stats = ModelStats.Compute(candidate);
            double? acc = validate(candidate);
            // Accuracies are image-count fractions: without the epsilon, a drop of exactly the tolerance (0.90 − 0.89 =
            // 0.010000000000000009) would be rejected.
            bool accept = baseline is null || acc is null || baseline.Value - acc.Value <= schedule.Tolerance + ToleranceEpsilon;
            if (accept)
            {
                budgets.Dequeue();
                current = candidate;
                reached = byParams ? stats.Params : stats.Macs;
                retries = 0;
                Compose(groups, pruning.Groups);
                // Labelled runs keep their wording; a label-free run says that its figure is agreement, not accuracy.
                var note = acc is { } a ? (measure == "accuracy" ? $"accepted at {a:P2}" : $"accepted at {measure} {a:P2}") : "accepted";
                steps.Add(new ScheduleStep(step, budget, stats.Macs, stats.Params, acc, true, note));
                log?.Invoke($"step {step}: budget {budget:N0} reached ({stats.Macs:N0} MACs, {stats.Params:N0} params), {note}");
                continue;
            }
            // Back off: retry half-way between where we are and this budget, with more fine-tuning.
            string why = $"{measure} {acc:P2} dropped {(baseline!.Value - acc!.Value) * 100:0.00} points (> {schedule.Tolerance * 100:0.##})";
            steps.Add(new ScheduleStep(step, budget, stats.Macs, stats.Params, acc, false, why + ", backing off"));
            log?.Invoke($"step {step}: {why}; backing off to a smaller step with more fine-tuning");
            if (++retries > schedule.MaxRetries || reached - budget < Math.Max(1, baseCount / 100))
                return new ScheduleResult(current, steps, false,
                    $"stopped: the target cannot be met within the tolerance ({schedule.Tolerance * 100:0.##} points); kept the last accepted model ({reached:N0} {(byParams ? "params" : "MACs")})")
                { Groups = groups };
            var rest = budgets.ToList();
            budgets.Clear();
            budgets.Enqueue((reached + budget) / 2);
            foreach (var b in rest) budgets.Enqueue(b);
        }
        int accepted = steps.Count(s => s.Accepted);
        return new ScheduleResult(current, steps, true, $"target reached in {accepted} step{(accepted == 1 ? "" : "s")}") { Groups = groups };
    }

    /// <summary>Folds one accepted step's changes into the running totals: the first step fixes "before", every step moves "after".</summary>
    private static void Compose(List<GroupChange> totals, IReadOnlyList<GroupChange> step)
    {
        if (totals.Count == 0)
        {
            totals.AddRange(step);
            return;
        }
        var after = step.ToDictionary(g => g.Group, g => g.After, StringComparer.Ordinal);
        for (int i = 0; i < totals.Count; i++)
            if (after.TryGetValue(totals[i].Group, out long a)) totals[i] = totals[i] with { After = a };
    }
}
