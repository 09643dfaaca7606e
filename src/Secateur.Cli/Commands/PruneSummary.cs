using System.Globalization;
using Secateur.Pruning;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary>One fine-tuning epoch in a summary.</summary>
/// <param name="Epoch">1-based epoch (restarting with every schedule step).</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TrainAccuracy">Training top-1.</param>
/// <param name="TestAccuracy">Test top-1 (mean IoU for segmentation) after the epoch, when measured.</param>
public sealed record EpochSummary(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy)
{
    /// <summary>The summary of one library epoch result.</summary>
    public static EpochSummary From(EpochResult e) => new(e.Epoch, e.Train.Loss, e.Train.Top1, e.Test?.Score); // mIoU for segmentation, as the stages
}

/// <summary>
/// What <c>prune</c> prints with <c>--json</c>: a view of the library's <see cref="PruneOutcome"/> whose property names
/// are a contract with scripts (keep them); every figure is read from the outcome, none is stored twice.
/// </summary>
public sealed class PruneSummary(PruneOutcome outcome, string output, string command) : ISummary
{
    /// <summary>What printed it (the schema of this object), for <c>secateur report</c>.</summary>
    public string Verb => "prune";
    /// <summary>Model name.</summary>
    public string Model => outcome.Original.Name;
    /// <summary>Criterion name.</summary>
    public string Criterion => outcome.Request.Importance.Name;
    /// <summary>The target, as text.</summary>
    public string Target => outcome.Request.Target.ToString();
    /// <summary>uniform, global or sensitivity.</summary>
    public string Allocation => outcome.Request.Allocation.Kind.ToString().ToLowerInvariant();
    /// <summary>Dataset name, when data was given.</summary>
    public string? Data => outcome.Request.Data?.Name;
    /// <summary>The input preprocessing the data was fed with and the result records (compact form), when data was given.</summary>
    public string? Preprocessing => outcome.Request.Data?.Preprocessing.ToString();
    /// <summary>How the preprocessing was chosen for a model that records none (chosen, reason, candidates), else null.</summary>
    public object? PreprocessingChoice { get; init; }
    /// <summary>Test images the accuracies are measured on, when data was given.</summary>
    public int? TestImages => outcome.Request.Data?.Test.Count;
    /// <summary>Parameters before pruning.</summary>
    public long ParamsBefore => outcome.Before.Params;
    /// <summary>Parameters after pruning.</summary>
    public long ParamsAfter => outcome.After.Params;
    /// <summary>MACs before pruning.</summary>
    public long MacsBefore => outcome.Before.Macs;
    /// <summary>MACs after pruning.</summary>
    public long MacsAfter => outcome.After.Macs;
    /// <summary>MACs before ÷ after (the old name of <see cref="MacsSpeedup"/>, kept for existing consumers).</summary>
    public double Speedup => outcome.Speedup;
    /// <summary>MACs before ÷ after: a count ratio, never a measured time (that is <c>latency.latencySpeedup</c>).</summary>
    public double MacsSpeedup => outcome.Speedup;
    /// <summary>What the accuracy stages measure: <c>accuracy</c> (top-1) for classification, <c>mIoU</c> for segmentation.</summary>
    public string Metric => outcome.Request.Data?.Train.HasMasks == true ? "mIoU" : "accuracy";
    /// <summary>Test accuracy (mean IoU for segmentation, see <see cref="Metric"/>) before pruning.</summary>
    public double? AccuracyBefore => outcome.Stages.Before;
    /// <summary>Test accuracy right after (the first step of) pruning.</summary>
    public double? AccuracyPruned => outcome.Stages.Pruned;
    /// <summary>Test accuracy after the least-squares refit, before recalibration (of the first step; null without refit).</summary>
    public double? AccuracyRefit => outcome.Stages.Refit;
    /// <summary>Test accuracy after batch-norm recovery of folded convolutions, before recalibration (of the first step; null when recovery did not run).</summary>
    public double? AccuracyBnRecovered => outcome.Stages.BatchNormRecovered;
    /// <summary>Test accuracy after BN recalibration (of the first step).</summary>
    public double? AccuracyRecalibrated => outcome.Stages.Recalibrated;
    /// <summary>Test accuracy after fine-tuning.</summary>
    public double? AccuracyFinetuned => outcome.Stages.FineTuned;
    /// <summary>Without training labels: agreement with the unpruned model right after (the first step of) pruning, per output.</summary>
    public AgreementReport? AgreementPruned => outcome.Agreement?.Pruned;
    /// <summary>Without training labels: agreement after BN recalibration (of the first step).</summary>
    public AgreementReport? AgreementRecalibrated => outcome.Agreement?.Recalibrated;
    /// <summary>Without training labels: agreement after fine-tuning.</summary>
    public AgreementReport? AgreementFinetuned => outcome.Agreement?.FineTuned;
    /// <summary>Seconds spent pruning, excluding recovery.</summary>
    public double PruneSeconds => outcome.PruneSeconds;
    /// <summary>Seconds of the whole run.</summary>
    public double TotalSeconds => outcome.TotalSeconds;
    /// <summary>The saved model.</summary>
    public string Output => output;
    /// <summary>Channels per group before and after.</summary>
    public IReadOnlyList<GroupChange> Groups => outcome.Groups;
    /// <summary>Every fine-tuning epoch.</summary>
    public IReadOnlyList<EpochSummary> Epochs => outcome.History.Select(EpochSummary.From).ToList();
    /// <summary>Every schedule step.</summary>
    public IReadOnlyList<ScheduleStep> Steps => outcome.Steps;
    /// <summary>Why the schedule stopped.</summary>
    public string Stop => outcome.Stop;

    /// <summary>Whether the target was met (false: the command exits 6 after saving what it reached).</summary>
    public bool ReachedTarget => outcome.ReachedTarget;
    /// <summary>The command that ran.</summary>
    public string Command => command;
    /// <summary>Top-level <c>params</c> (after pruning) for scripts.</summary>
    public long Params => ParamsAfter;
    /// <summary>Top-level <c>macs</c> (after pruning) for scripts.</summary>
    public long Macs => MacsAfter;
    /// <summary>For <c>--target-latency</c>: measured latencies of the dense and pruned model, and the search.</summary>
    public LatencySearchResult? Latency => outcome.Latency;

    /// <summary>The one-line summary.</summary>
    public string Line()
    {
        static string A(double? v) => v is { } x ? x.ToString("P2", CultureInfo.InvariantCulture) : "-";
        static string G(AgreementReport? v) => v is null ? "-" : $"[{v}]";
        string latency = Latency is { } l
            ? FormattableString.Invariant($"p50 latency {l.DenseMs:0.###} -> {l.PrunedMs:0.###} ms ({BenchView.Spread(l.Speedup, l.SpeedupLow, l.SpeedupHigh)}, budget {l.Budget.Milliseconds:0.###} ms{(l.WithinBudget ? "" : ", missed on re-measurement")}); ")
            : "";
        return FormattableString.Invariant(
            $"{Model}: params {ParamsBefore:N0} -> {ParamsAfter:N0} ({ParamsBefore / (double)ParamsAfter:0.00}x), MACs {MacsBefore:N0} -> {MacsAfter:N0} ({Speedup:0.00}x); ") + latency +
            $"{Metric} before {A(AccuracyBefore)}, right after pruning {A(AccuracyPruned)}, {(outcome.Request.Refit is null ? "" : $"after refit {A(AccuracyRefit)}, ")}{(AccuracyBnRecovered is null ? "" : $"after BN recovery {A(AccuracyBnRecovered)}, ")}after BN recalibration {A(AccuracyRecalibrated)}, after fine-tuning {A(AccuracyFinetuned)}; " +
            (outcome.Agreement is { } g ? $"agreement with the unpruned model right after pruning {G(g.Pruned)}, after BN recalibration {G(g.Recalibrated)}, after fine-tuning {G(g.FineTuned)}; " : "") +
            $"{Stop}; saved {Output}" +
            (Preprocessing is null ? "" : $"; preprocessing {Secateur.Graph.InputPreprocessing.Parse(Preprocessing).Describe()}");
    }
}
