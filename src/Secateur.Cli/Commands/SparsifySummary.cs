using System.Globalization;
using Secateur.Pruning.Unstructured;

namespace Secateur.Cli.Commands;

/// <summary>
/// What weight pruning (<c>sparsify</c>, <c>prune --granularity weight</c>) prints with <c>--json</c>: a view of the
/// library's <see cref="SparsityOutcome"/> whose property names are a contract with scripts (keep them).
/// </summary>
public sealed class SparsePruneSummary(SparsityOutcome outcome, string output, string command) : ISummary
{
    private SparsityReport Report => outcome.Result.Report;
    /// <summary>What printed it (the schema of this object), for <c>secateur report</c>: weight pruning, whichever verb ran it.</summary>
    public string Verb => "sparsify";
    /// <summary>Model name.</summary>
    public string Model => outcome.Original.Name;
    /// <summary>Always <c>weight</c>.</summary>
    public string Granularity => "weight";
    /// <summary>magnitude or lamp.</summary>
    public string Criterion => outcome.Request.CriterionName;
    /// <summary>layer, global or group (N:M).</summary>
    public string Scope => outcome.Request.ScopeName;
    /// <summary>The N:M pattern, if any.</summary>
    public string? Nm => outcome.Request.Sparsity.Nm?.ToString();
    /// <summary>oneshot, iterative, agp or lottery.</summary>
    public string Schedule => outcome.Request.ScheduleName;
    /// <summary>The sparsity aimed at (of the considered weights).</summary>
    public double TargetSparsity => outcome.Request.TargetSparsity;
    /// <summary>Dataset name, when data was given.</summary>
    public string? Data => outcome.Request.Data?.Name;
    /// <summary>The input preprocessing the data was fed with and the result records (compact form), when data was given.</summary>
    public string? Preprocessing => outcome.Request.Data?.Preprocessing.ToString();
    /// <summary>How the preprocessing was chosen for a model that records none (chosen, reason, candidates), else null.</summary>
    public object? PreprocessingChoice { get; init; }
    /// <summary>Test images the accuracies are measured on, when data was given.</summary>
    public int? TestImages => outcome.Request.Data?.Test.Count;
    /// <summary>All parameters.</summary>
    public long Params => Report.Params;
    /// <summary>Non-zero parameters before.</summary>
    public long NonZeroParamsBefore => outcome.Before.NonZeroParams;
    /// <summary>Non-zero parameters after.</summary>
    public long NonZeroParams => Report.NonZeroParams;
    /// <summary>Fraction of all parameters that are zero.</summary>
    public double Sparsity => Report.Sparsity;
    /// <summary>Fraction of the considered weights that are zero.</summary>
    public double WeightSparsity => outcome.Result.Steps[^1].Sparsity;
    /// <summary>Params ÷ non-zero params.</summary>
    public double Compression => Report.Compression;
    /// <summary>Test accuracy before.</summary>
    public double? AccuracyBefore => outcome.AccuracyBefore;
    /// <summary>Test accuracy right after the first pruning step.</summary>
    public double? AccuracyPruned => outcome.AccuracyPruned;
    /// <summary>Test accuracy after the last training.</summary>
    public double? AccuracyFinetuned => outcome.AccuracyFineTuned;
    /// <summary>Whether the N:M pattern holds, for N:M.</summary>
    public bool? NmSatisfied => outcome.NmSatisfied;
    /// <summary>Every Conv and Gemm weight.</summary>
    public IReadOnlyList<SparseLayer> Layers => outcome.Layers;
    /// <summary>Every schedule step.</summary>
    public IReadOnlyList<SparsityStep> Steps => outcome.Result.Steps;
    /// <summary>Every training epoch.</summary>
    public IReadOnlyList<EpochSummary> Epochs => outcome.History.Select(EpochSummary.From).ToList();
    /// <summary>Seconds of the whole run.</summary>
    public double TotalSeconds => outcome.TotalSeconds;
    /// <summary>The saved model.</summary>
    public string Output => output;
    /// <summary>The command that ran.</summary>
    public string Command => command;

    /// <summary>The one-line summary.</summary>
    public string Line()
    {
        static string A(double? v) => v is { } x ? x.ToString("P2", CultureInfo.InvariantCulture) : "-";
        var layers = string.Join(", ", Layers.Select(l => FormattableString.Invariant($"{l.Layer} {l.Sparsity:P1}{(l.Dense ? " (dense)" : "")}")));
        return FormattableString.Invariant(
            $"{Model}: non-zero params {NonZeroParamsBefore:N0} -> {NonZeroParams:N0} of {Params:N0} ({Compression:0.00}x fewer, sparsity {Sparsity:P2} overall, {WeightSparsity:P2} of the considered layers' weights){(Nm is null ? "" : $", {Nm} {(NmSatisfied == true ? "verified" : "NOT satisfied")}")}; ") +
            $"accuracy before {A(AccuracyBefore)}, right after pruning {A(AccuracyPruned)}, after fine-tuning {A(AccuracyFinetuned)}; layers: {layers}; saved {Output}";
    }
}
