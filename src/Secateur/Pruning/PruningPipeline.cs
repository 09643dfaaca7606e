using System.Diagnostics;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Training;

namespace Secateur.Pruning;

/// <summary>
/// Everything one structured-pruning run needs: what to prune to (criterion, target, allocation, schedule) and what
/// to do after each pruning step (batch-norm recalibration, fine-tuning, distillation). Without <see cref="Data"/>
/// the run is data-free: no accuracies, no recalibration, no fine-tuning.
/// </summary>
public sealed record PruneRequest
{
    /// <summary>The fine-tuning recipe used unless told otherwise: SGD with Nesterov momentum, lr 0.01 cosine-annealed to 0, no epochs.</summary>
    public static TrainingOptions DefaultFineTuning { get; } = new() { Epochs = 0, LearningRate = 0.01, Schedule = ScheduleKind.Cosine };

    /// <summary>Importance criterion.</summary>
    public required IImportance Importance { get; init; }
    /// <summary>The target.</summary>
    public required PruningTarget Target { get; init; }
    /// <summary>Allocation over groups; <see cref="AllocationKind.Sensitivity"/> runs a sensitivity analysis first.</summary>
    public AllocationOptions Allocation { get; init; } = new();
    /// <summary>Layer names (or patterns with <c>*</c>) whose groups are left alone.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];
    /// <summary>How pruning is spread over steps.</summary>
    public ScheduleOptions Schedule { get; init; } = new();
    /// <summary>
    /// Training data (calibration, recalibration, fine-tuning) and test data (accuracies), or null. Training images
    /// without labels (<see cref="DataSet.TrainLabelled"/> false) make the run label-free: fine-tuning distils from the
    /// unpruned model, the dynamic schedule watches agreement with it, and agreement is reported at every stage.
    /// </summary>
    public DataSet? Data { get; init; }
    /// <summary>Batches of 64 training images that data-driven criteria score on.</summary>
    public int CalibrationBatches { get; init; } = 8;
    /// <summary>Ratios the sensitivity analysis measures (sensitivity allocation only).</summary>
    public IReadOnlyList<double> SensitivityRatios { get; init; } = [0.25, 0.5, 0.75];
    /// <summary>Training images batch-norm statistics are re-estimated on after every pruning step (0: off).</summary>
    public int RecalibrationImages { get; init; } = 1024;
    /// <summary>
    /// When set, every pruning step is followed by a least-squares refit of the layers that read pruned channels
    /// (<see cref="Pruning.Refit"/>) on training images, before batch-norm recalibration; null: off.
    /// </summary>
    public RefitOptions? Refit { get; init; }
    /// <summary>
    /// Batch-norm recovery (<see cref="BatchNormRecovery"/>) after every pruning step, after the refit and before
    /// recalibration, on <see cref="RecalibrationImages"/> training images: for models whose batch norms were folded
    /// into the convolutions. Auto: on when the unpruned model has convolutions and no batch norm, and data is given.
    /// </summary>
    public BatchNormRecoveryMode BatchNormRecovery { get; init; } = BatchNormRecoveryMode.Auto;
    /// <summary>Fine-tuning after every pruning step (its <see cref="TrainingOptions.Seed"/> is replaced by <see cref="Seed"/>).</summary>
    public TrainingOptions FineTuning { get; init; } = DefaultFineTuning;
    /// <summary>When set, fine-tuning distils from the unpruned model with these settings.</summary>
    public DistillationOptions? Distillation { get; init; }
    /// <summary>
    /// Dynamic schedule: a rejected step is retried smaller with this many times the previous fine-tuning epochs
    /// (2: double them per retry).
    /// </summary>
    public int RetryEpochFactor { get; init; } = 2;
    /// <summary>Seed for calibration, held-out split, shuffling and augmentation.</summary>
    public int Seed { get; init; }
    /// <summary>Device name (cpu, cuda, cuda:N).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Checks every value and the rules between them; throws <see cref="SecateurException"/> (BadArgument) naming the property.</summary>
    public PruneRequest Validated()
    {
        ArgumentNullException.ThrowIfNull(Importance);
        (Target ?? throw new ArgumentNullException(nameof(Target))).Validated();
        Allocation.Validated();
        Schedule.Validated();
        FineTuning.Validated();
        Distillation?.Validated();
        if (Data is null)
        {
            if (Importance.NeedsData) Fail($"criterion '{Importance.Name}' needs data", ParameterNames.Data);
            if (FineTuning.Epochs > 0) Fail("fine-tuning needs data", ParameterNames.Data);
            if (Allocation.Kind == AllocationKind.Sensitivity) Fail("sensitivity allocation needs data for its analysis", ParameterNames.Data);
            if (Schedule.Kind == PruningScheduleKind.Dynamic) Fail("the dynamic schedule watches validation accuracy and needs data", ParameterNames.Data);
        }
        if (Data is { TrainLabelled: false })
        {
            if (Importance.NeedsLabels)
                Fail($"criterion '{Importance.Name}' back-propagates a loss on labels, but the training images of {Data.Name} have none; use a criterion that needs no labels (l1, l2, fpgm, bn, activation, apoz, reconstruction)", ParameterNames.Data);
            if (Allocation.Kind == AllocationKind.Sensitivity)
                Fail($"sensitivity allocation measures accuracy on held-out labelled training images, but the training images of {Data.Name} have no labels", nameof(PruningOptions.Sensitivity));
        }
        if (CalibrationBatches < 1) Fail($"calibration batches must be at least 1 (got {CalibrationBatches})", nameof(CalibrationBatches));
        if (Refit is not null)
        {
            if (Data is null) Fail("refit needs calibration images", ParameterNames.Data);
            Refit.Validated();
        }
        if (RecalibrationImages < 0) Fail($"recalibration images must be at least 0 (got {RecalibrationImages})", nameof(RecalibrationImages));
        if (BatchNormRecovery == BatchNormRecoveryMode.On)
        {
            if (Data is null) Fail("batch-norm recovery needs calibration images", ParameterNames.Data);
            if (RecalibrationImages == 0) Fail("batch-norm recovery calibrates on the recalibration images, and they are 0", nameof(RecalibrationImages));
        }
        if (!Enum.IsDefined(BatchNormRecovery)) Fail($"unknown batch-norm recovery mode {(int)BatchNormRecovery}", nameof(BatchNormRecovery));
        if (RetryEpochFactor < 1) Fail($"the retry epoch factor must be at least 1 (got {RetryEpochFactor})", nameof(RetryEpochFactor));
        if (Allocation.Kind == AllocationKind.Sensitivity && (SensitivityRatios.Count == 0 || SensitivityRatios.Any(r => r is <= 0 or >= 1)))
            Fail("sensitivity ratios must be in (0, 1), e.g. 0.25, 0.5, 0.75", nameof(SensitivityRatios));
        return this;
    }

    private static void Fail(string message, string parameter) => throw new SecateurException(ErrorCode.BadArgument, message, parameter);
}

/// <summary>What a pruning run produced and measured.</summary>
/// <param name="Original">The unpruned graph.</param>
/// <param name="Graph">The pruned (recalibrated, fine-tuned) graph.</param>
/// <param name="Before">Statistics of <paramref name="Original"/>.</param>
/// <param name="After">Statistics of <paramref name="Graph"/>.</param>
/// <param name="Stages">Test accuracy at each stage (all null without data).</param>
/// <param name="Steps">Every schedule step tried.</param>
/// <param name="Stop">Why the schedule stopped.</param>
/// <param name="Groups">Channels of every prunable group before and after.</param>
/// <param name="History">Every fine-tuning epoch, in order (epoch numbers restart with each step).</param>
/// <param name="PruneSeconds">Time spent pruning (scoring, allocation, removal) over all steps, excluding recalibration, fine-tuning and validation.</param>
/// <param name="TotalSeconds">Time of the whole run.</param>
public sealed record PruneOutcome(ModelGraph Original, ModelGraph Graph, ModelStats Before, ModelStats After, AccuracyStages Stages,
    IReadOnlyList<ScheduleStep> Steps, string Stop, IReadOnlyList<GroupChange> Groups, IReadOnlyList<EpochResult> History,
    double PruneSeconds, double TotalSeconds)
{
    /// <summary>Base MACs ÷ pruned MACs.</summary>
    public double Speedup => Before.Macs / (double)Math.Max(1, After.Macs);

    /// <summary>For a latency target: the measured latencies of the dense and pruned model, and the search.</summary>
    public LatencySearchResult? Latency { get; init; }

    /// <summary>The sensitivity analysis the allocation used, when it used one.</summary>
    public IReadOnlyList<SensitivityPoint>? Sensitivity { get; init; }

    /// <summary>Whether the target was met; false when a schedule stopped short or a latency budget was missed on re-measurement.</summary>
    public bool ReachedTarget { get; init; } = true;

    /// <summary>Settings of the request that had no effect on this run, one line each (naming the parameter, never a flag).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>One-line remarks on how the result relates to the request (e.g. rounding moved it away from the target).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The (validated) request the run carried out.</summary>
    public required PruneRequest Request { get; init; }

    /// <summary>Agreement with the unpruned model at each stage, when the training images had no labels; else null.</summary>
    public AgreementStages? Agreement { get; init; }
}

/// <summary>Agreement with the unpruned model at each stage of a label-free run (on the test split); with a multi-step schedule, the first two are measured after step 1.</summary>
/// <param name="Pruned">Right after pruning.</param>
/// <param name="Recalibrated">After batch-norm recalibration (null when recalibration is off).</param>
/// <param name="FineTuned">After fine-tuning (null without fine-tuning).</param>
public sealed record AgreementStages(AgreementReport? Pruned, AgreementReport? Recalibrated, AgreementReport? FineTuned);

/// <summary>Test accuracy of a pruning run at each stage; with a multi-step schedule, the middle two are measured after step 1.</summary>
/// <param name="Before">The unpruned model.</param>
/// <param name="Pruned">Right after pruning.</param>
/// <param name="Recalibrated">After batch-norm recalibration (null when recalibration is off).</param>
/// <param name="FineTuned">After fine-tuning (null without fine-tuning).</param>
public sealed record AccuracyStages(double? Before, double? Pruned, double? Recalibrated, double? FineTuned)
{
    /// <summary>After the least-squares refit, before recalibration (null when refit is off).</summary>
    public double? Refit { get; init; }

    /// <summary>After batch-norm recovery, before recalibration (null when recovery did not run).</summary>
    public double? BatchNormRecovered { get; init; }
}

/// <summary>
/// The structured-pruning workflow as one call: optional sensitivity analysis on a held-out slice of the training
/// data, the schedule (<see cref="PruningSchedule"/>) with recalibration and (distilled) fine-tuning after every
/// step, stage accuracies, per-group changes and prune-only timing.
/// </summary>
public static class PruningPipeline
{
    /// <summary>Prunes <paramref name="graph"/> as <paramref name="request"/> says.</summary>
    /// <param name="graph">The unpruned graph.</param>
    /// <param name="request">What to do.</param>
    /// <param name="progress">Receives stage lines and every fine-tuning run (null: silent).</param>
    public static PruneOutcome Run(ModelGraph graph, PruneRequest request, IWorkflowProgress? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        request = (request ?? throw new ArgumentNullException(nameof(request))).Validated();
        progress ??= WorkflowProgress.Silent;
        var clock = Stopwatch.StartNew();
        var set = request.Data;
        int seed = request.Seed;
        // Only a run with data touches libtorch here: a data-free run with a managed criterion need not load it.
        var device = set is null ? null : Runtime.Devices.Parse(request.Device);
        var test = set is { TestLabelled: true } ? set.TestLoader() : null;
        double? Accuracy(ModelGraph g) => test is null ? null : Trainer.Accuracy(g, test, device);
        // Without training labels, agreement with the unpruned model is what recovery aims at: report it on the test split.
        bool labelFree = set is { TrainLabelled: false };
        var compare = labelFree ? set!.TestLoader() : null;
        AgreementReport? Agree(ModelGraph g) => compare is null ? null : Training.Agreement.Measure(g, graph, compare, device);

        // The dynamic schedule accepts or rejects steps on a held-out slice of the training data, which fine-tuning
        // then does not see; the test split only feeds the reported stage accuracies.
        DataLoader? validation = null;
        if (set is not null && request.Schedule.Kind == PruningScheduleKind.Dynamic)
        {
            var (rest, slice) = HeldOut.Split(set, seed);
            progress.Log($"the dynamic schedule validates on {slice.Count} held-out training images");
            validation = (set with { Test = slice }).TestLoader();
            set = rest;
        }
        double? Validate(ModelGraph g) => validation is null ? null
            : labelFree ? Training.Agreement.Measure(g, graph, validation, device).Score : Trainer.Accuracy(g, validation, device);

        var accBefore = Accuracy(graph);
        var importance = new ImportanceContext(set?.TrainLoader(64, seed, augment: false), request.CalibrationBatches, seed, request.Device);
        var sensitivity = request.Allocation.Kind == AllocationKind.Sensitivity ? HeldOutSensitivity(graph, request, importance, progress) : null;
        var options = new PruningOptions
        {
            Target = request.Target,
            Sensitivity = sensitivity,
            Allocation = request.Allocation,
            Exclude = request.Exclude,
            Importance = importance,
            Log = progress.Log,
        };
        var tuner = FineTuner.ForRecovery(graph, set, request.FineTuning, seed, request.Device, request.Distillation, progress);
        var history = new List<EpochResult>();
        double? accPruned = null, accRefit = null, accRecovered = null, accRecalibrated = null;
        bool recover = set is not null && request.RecalibrationImages > 0 && Pruning.BatchNormRecovery.Applies(request.BatchNormRecovery, graph);
        AgreementReport? agreePruned = null, agreeRecalibrated = null;
        var outside = new Stopwatch();
        var scheduleClock = Stopwatch.StartNew();
        var result = PruningSchedule.Run(graph, request.Importance, options, request.Schedule, (int step, PruningResult pruning, int retry) =>
        {
            // Everything here is recovery, not pruning: it does not count towards the prune time.
            outside.Start();
            try
            {
                bool first = step == 1 && retry == 0;
                var pruned = pruning.Pruned;
                if (first)
                {
                    accPruned = Accuracy(pruned);
                    agreePruned = Agree(pruned);
                }
                if (request.Refit is { } refit)
                {
                    pruned = Refit.Run(pruning.Plan, pruned, set!.TrainLoader(refit.BatchSize, seed, augment: false),
                        refit with { Seed = seed, Device = request.Device }, progress).Graph;
                    if (first) accRefit = Accuracy(pruned);
                }
                if (recover)
                {
                    var recovery = Pruning.BatchNormRecovery.Run(pruning.Plan, pruned, set!.TrainLoader(128, seed, augment: false), request.RecalibrationImages, request.Device, progress);
                    if (first && recovery.Layers.Count > 0) accRecovered = Accuracy(recovery.Graph);
                    pruned = recovery.Graph;
                }
                var recalibrated = set is not null && request.RecalibrationImages > 0
                    ? BatchNormRecalibration.Recalibrate(pruned, set.TrainLoader(128, seed, augment: false), request.RecalibrationImages, request.Device)
                    : pruned;
                if (first && !ReferenceEquals(recalibrated, pruned))
                {
                    accRecalibrated = Accuracy(recalibrated);
                    agreeRecalibrated = Agree(recalibrated);
                }
                return FineTune(tuner, recalibrated, step, retry, request, history);
            }
            finally { outside.Stop(); }
        }, Validate, progress.Log, labelFree ? "agreement" : "accuracy");
        double pruneSeconds = scheduleClock.Elapsed.TotalSeconds - outside.Elapsed.TotalSeconds;
        double? accFinetuned = request.FineTuning.Epochs > 0 ? Accuracy(result.Graph) : null;
        return new PruneOutcome(graph, result.Graph, ModelStats.Compute(graph), ModelStats.Compute(result.Graph),
            new AccuracyStages(accBefore, accPruned, accRecalibrated, accFinetuned) { Refit = accRefit, BatchNormRecovered = accRecovered }, result.Steps, result.Stop, result.Groups, history,
            pruneSeconds, clock.Elapsed.TotalSeconds)
        {
            Latency = result.Latency,
            Sensitivity = sensitivity,
            Request = request,
            ReachedTarget = result.ReachedTarget,
            Notes = RoundingNotes(request, ModelStats.Compute(graph), ModelStats.Compute(result.Graph)),
            Warnings = Ignored(graph, request),
            Agreement = labelFree ? new AgreementStages(agreePruned, agreeRecalibrated, request.FineTuning.Epochs > 0 ? Agree(result.Graph) : null) : null,
        };
    }

    /// <summary>
    /// What the request asks for that this run cannot do: the run goes ahead (nothing is wrong with the model), but the
    /// user must not believe a setting took effect when it did not.
    /// </summary>
    internal static IReadOnlyList<string> Ignored(ModelGraph graph, PruneRequest request)
    {
        var warnings = new List<string>();
        if (request.Distillation is not null && request.FineTuning.Epochs == 0)
            warnings.Add("distillation has no effect without fine-tuning epochs");
        foreach (var pattern in request.Exclude.Where(p => !graph.Nodes.Any(n => Pruner.Matches(n.Name, p))))
            warnings.Add($"exclusion pattern '{pattern}' matches no layer of {graph.Name}, so it excludes nothing");
        if (request.Importance.Name == "bn" && !graph.Nodes.Any(n => n.Op == OpKind.BatchNormalization))
            warnings.Add($"criterion 'bn' found no batch norm in {graph.Name}: every group is scored by the L1 norm of its weights instead");
        return warnings;
    }

    /// <summary>
    /// A note when channel rounding overshot a speed-up, MACs or params target by more than 10%: the user asked for one
    /// figure and must not find another one without a word.
    /// </summary>
    private static IReadOnlyList<string> RoundingNotes(PruneRequest request, ModelStats before, ModelStats after)
    {
        int n = request.Allocation.RoundTo;
        if (n <= 1) return [];
        var t = request.Target;
        string? note = null;
        if (t.Speedup is { } s && before.Macs / (double)Math.Max(1, after.Macs) > s * 1.1)
            note = FormattableString.Invariant($"achieved {before.Macs / (double)Math.Max(1, after.Macs):0.##}x fewer MACs for a requested {s:0.##}x");
        else if (t.Macs is { } m && after.Macs < m / 1.1)
            note = FormattableString.Invariant($"reached {after.Macs:N0} MACs for a requested {m:N0}");
        else if (t.Params is { } p && after.Params < p / 1.1)
            note = FormattableString.Invariant($"reached {after.Params:N0} params for a requested {p:N0}");
        return note is null ? [] : [FormattableString.Invariant($"{note}: channel counts are rounded to multiples of {n} (a group of exactly {n} is left whole)")];
    }

    /// <summary>
    /// Sensitivity analysis on 10% of the training data (at most 1,000 images), never on the test split: the
    /// allocation must not peek at the data the result is judged on.
    /// </summary>
    private static IReadOnlyList<SensitivityPoint> HeldOutSensitivity(ModelGraph graph, PruneRequest request, ImportanceContext importance, IWorkflowProgress progress)
    {
        var set = request.Data!;
        var held = HeldOut.Split(set, request.Seed).Validation;
        progress.Log($"sensitivity analysis on {held.Count} held-out training images ...");
        return Sensitivity.Analyze(graph, request.Importance, importance, (set with { Test = held }).TestLoader(), request.SensitivityRatios).Points;
    }

    private static ModelGraph FineTune(FineTuner? tuner, ModelGraph graph, int step, int retry, PruneRequest request, List<EpochResult> history)
    {
        int epochs = request.FineTuning.Epochs * (int)Math.Pow(request.RetryEpochFactor, retry);
        if (tuner is null || epochs <= 0) return graph;
        var run = tuner.Run(graph, $"fine-tuning step {step} ({epochs} epoch{(epochs == 1 ? "" : "s")})", epochs);
        history.AddRange(run.History);
        // A checkpoint belongs to one fine-tuning run: the next step starts afresh.
        if (request.FineTuning.CheckpointPath is { } c && request.Schedule.Kind != PruningScheduleKind.OneShot) File.Delete(c);
        return run.Graph;
    }
}
