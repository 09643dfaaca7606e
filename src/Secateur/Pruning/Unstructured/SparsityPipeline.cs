using System.Diagnostics;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Training;

namespace Secateur.Pruning.Unstructured;

/// <summary>Everything one weight-level pruning run needs: what to zero, the schedule, and the (masked) fine-tuning after each step.</summary>
public sealed record SparsityRequest
{
    /// <summary>Which weights, how many, by which criterion (or an N:M pattern).</summary>
    public required SparsityOptions Sparsity { get; init; }
    /// <summary>How sparsity is reached over steps (or lottery rounds).</summary>
    public SparsityScheduleOptions Schedule { get; init; } = new();
    /// <summary>Training data (fine-tuning, lottery training) and test data (accuracies), or null for a data-free run.</summary>
    public DataSet? Data { get; init; }
    /// <summary>Fine-tuning after every step; for the lottery, the dense training and every round's retraining (its seed is replaced by <see cref="Seed"/>).</summary>
    public TrainingOptions FineTuning { get; init; } = PruneRequest.DefaultFineTuning;
    /// <summary>When set, fine-tuning distils from the dense model with these settings.</summary>
    public DistillationOptions? Distillation { get; init; }
    /// <summary>Seed for shuffling and augmentation.</summary>
    public int Seed { get; init; }
    /// <summary>Device name (cpu, cuda, cuda:N).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The criterion as reports name it: magnitude or lamp (an N:M pattern always ranks by magnitude).</summary>
    public string CriterionName => Sparsity.Nm is null ? Sparsity.Criterion.ToString().ToLowerInvariant() : "magnitude";

    /// <summary>The scope as reports name it: layer, global, or group (an N:M pattern's groups of M weights).</summary>
    public string ScopeName => Sparsity.Nm is null ? Sparsity.Scope.ToString().ToLowerInvariant() : "group";

    /// <summary>The schedule as reports name it: oneshot, iterative, agp or lottery.</summary>
    public string ScheduleName => Schedule.Kind.ToString().ToLowerInvariant();

    /// <summary>The fraction of the considered weights the run aims to zero.</summary>
    public double TargetSparsity => Sparsity.Nm?.Sparsity ?? Sparsity.Sparsity;

    /// <summary>Checks every value and the rules between them; throws <see cref="SecateurException"/> (BadArgument) naming the property.</summary>
    public SparsityRequest Validated()
    {
        (Sparsity ?? throw new ArgumentNullException(nameof(Sparsity))).Validated();
        Schedule.Validated();
        FineTuning.Validated();
        Distillation?.Validated();
        bool lottery = Schedule.Kind == SparsityScheduleKind.Lottery;
        if (Sparsity.Nm is not null && Schedule.Kind != SparsityScheduleKind.OneShot)
            Fail("an N:M pattern is reached in one shot (fine-tune after it); other schedules do not apply", nameof(Schedule));
        if (lottery && Data is null) Fail("the lottery schedule trains the model and needs data", ParameterNames.Data);
        if (lottery && FineTuning.Epochs <= Schedule.RewindEpoch)
            Fail($"the lottery ticket needs more fine-tuning epochs than its rewind epoch {Schedule.RewindEpoch} (got {FineTuning.Epochs})", nameof(SparsityScheduleOptions.RewindEpoch));
        if (lottery && Distillation is not null)
            Fail("distillation needs a trained teacher, but the lottery schedule starts from the given weights and trains them itself", nameof(Distillation));
        if (FineTuning.Epochs > 0 && Data is null) Fail("fine-tuning needs data", ParameterNames.Data);
        if (FineTuning.CheckpointPath is not null && Schedule.Kind != SparsityScheduleKind.OneShot)
            Fail("a fine-tuning checkpoint works with the one-shot schedule only (each step of a schedule trains anew)", nameof(TrainingOptions.CheckpointPath));
        return this;
    }

    private static void Fail(string message, string parameter) => throw new SecateurException(ErrorCode.BadArgument, message, parameter);
}

/// <summary>One Conv or Gemm weight after weight-level pruning.</summary>
/// <param name="Layer">Node name.</param>
/// <param name="Weight">Weight initializer.</param>
/// <param name="Count">Elements.</param>
/// <param name="NonZero">Non-zero elements.</param>
/// <param name="Dense">True when the layer was left dense (excluded, the classifier, or not N:M-eligible).</param>
public sealed record SparseLayer(string Layer, string Weight, long Count, long NonZero, bool Dense)
{
    /// <summary>Fraction of zeros.</summary>
    public double Sparsity => Count == 0 ? 0 : 1 - NonZero / (double)Count;
}

/// <summary>What a weight-level pruning run produced and measured.</summary>
/// <param name="Original">The dense graph.</param>
/// <param name="Result">The schedule's result: the sparse graph, its masks, steps and sparsity report.</param>
/// <param name="Before">Sparsity of <paramref name="Original"/>.</param>
/// <param name="AccuracyBefore">Test accuracy of the dense graph (null without data).</param>
/// <param name="History">Every training epoch, in order.</param>
/// <param name="TotalSeconds">Time of the whole run.</param>
public sealed record SparsityOutcome(ModelGraph Original, SparsityResult Result, SparsityReport Before, double? AccuracyBefore,
    IReadOnlyList<EpochResult> History, double TotalSeconds)
{
    /// <summary>The sparse graph.</summary>
    public ModelGraph Graph => Result.Graph;

    /// <summary>Test accuracy right after the first pruning step.</summary>
    public double? AccuracyPruned => Result.Steps.First(s => s.Step == 1).AccuracyPruned;

    /// <summary>Test accuracy after the last step's training, when there was training.</summary>
    public double? AccuracyFineTuned => History.Count > 0 ? Result.Steps[^1].Accuracy : null;

    /// <summary>The (validated) request the run carried out.</summary>
    public required SparsityRequest Request { get; init; }

    /// <summary>For an N:M pattern: whether the pruned weights satisfy it (checked on the saved graph, not assumed).</summary>
    public bool? NmSatisfied { get; init; }

    /// <summary>Every Conv and Gemm weight with its non-zeros and whether it was left dense.</summary>
    public IReadOnlyList<SparseLayer> Layers
    {
        get
        {
            var considered = Result.Weights.ToHashSet(StringComparer.Ordinal);
            return Result.Report.Layers.Select(l => new SparseLayer(l.Layer, l.Weight, l.Count, l.NonZero,
                !considered.Contains(l.Weight) || !Result.Masks.Keep.ContainsKey(l.Weight))).ToList();
        }
    }
}

/// <summary>
/// The weight-level pruning workflow as one call: accuracy before, the schedule (<see cref="SparsitySchedule"/>)
/// with masked (optionally distilled) fine-tuning through <see cref="FineTuner"/>, the lottery's rewind capture,
/// and the N:M check of the result.
/// </summary>
public static class SparsityPipeline
{
    /// <summary>Prunes the weights of <paramref name="graph"/> as <paramref name="request"/> says.</summary>
    /// <param name="graph">The dense graph.</param>
    /// <param name="request">What to do.</param>
    /// <param name="progress">Receives step lines and every training run (null: silent).</param>
    public static SparsityOutcome Run(ModelGraph graph, SparsityRequest request, IWorkflowProgress? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        request = (request ?? throw new ArgumentNullException(nameof(request))).Validated();
        progress ??= WorkflowProgress.Silent;
        var clock = Stopwatch.StartNew();
        var set = request.Data;
        // Only a run with data touches libtorch here: a data-free run with a managed criterion need not load it.
        var device = set is null ? null : Runtime.Devices.Parse(request.Device);
        var test = set is { TestLabelled: true } ? set.TestLoader() : null;
        double? Accuracy(ModelGraph g) => test is null ? null : Trainer.Accuracy(g, test, device);
        bool lottery = request.Schedule.Kind == SparsityScheduleKind.Lottery;
        var tuner = FineTuner.ForRecovery(graph, set, request.FineTuning, request.Seed, request.Device, request.Distillation, progress);
        var history = new List<EpochResult>();
        MaskedTraining Train(int step, ModelGraph g, WeightMasks? masks, int? rewindEpoch)
        {
            if (tuner is null || request.FineTuning.Epochs <= 0) return new MaskedTraining(g);
            using var constraint = masks?.ToConstraint(device);
            string title = step == 0 ? "lottery: dense training" : lottery ? $"lottery round {step}: retraining" : $"fine-tuning step {step}";
            var run = tuner.Run(g, title, constraint: constraint, rewindEpoch: rewindEpoch);
            history.AddRange(run.History);
            return new MaskedTraining(run.Graph, run.Rewind);
        }
        var accBefore = Accuracy(graph);
        var before = SparsityReport.Compute(graph);
        var result = SparsitySchedule.Run(graph, request.Sparsity, request.Schedule, Train, Accuracy, progress.Log);
        bool? nm = request.Sparsity.Nm is { } pattern ? NmSparsity.Satisfies(result.Graph, pattern, result.Masks.Keep.Keys) : null;
        return new SparsityOutcome(graph, result, before, accBefore, history, clock.Elapsed.TotalSeconds) { NmSatisfied = nm, Request = request };
    }
}
