using System.CommandLine;
using Secateur.Pruning.Unstructured;

namespace Secateur.Cli.Commands;

/// <summary>The options only weight-level pruning has (<c>sparsify</c>, and <c>prune --granularity weight</c> for compatibility).</summary>
internal sealed class WeightOptions
{
    public Option<double?> SparsityValue { get; } = new("--sparsity") { Description = "fraction of the pruned layers' weights to zero, e.g. 0.9" };
    public Option<string> Scope { get; } = new Option<string>("--scope") { Description = "the same sparsity in every layer, or one global threshold", DefaultValueFactory = _ => "layer" }.AcceptOnlyFromAmong("layer", "global");
    public Option<string?> Nm { get; } = new("--nm") { Description = "N:M sparsity, e.g. 2:4: at most N non-zeros in every M consecutive input channels" };
    public Option<int> RewindEpoch { get; } = new("--rewind-epoch") { Description = "lottery: reset survivors to their weights at the end of this epoch of dense training (0: the initial weights)", DefaultValueFactory = _ => 1 };
    public Option<bool> PruneClassifier { get; } = new("--prune-classifier") { Description = "also prune the last layer (left dense by default)" };

    /// <summary>Every option.</summary>
    public IEnumerable<Option> All => [SparsityValue, Scope, Nm, RewindEpoch, PruneClassifier];

    /// <summary>Adds every option to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in All) cmd.Options.Add(o);
    }

    /// <summary>
    /// What to zero. The two checks here are about which options were typed (an N:M pattern fixes sparsity and criterion
    /// itself), so they stay with the parser; the rules between values are <see cref="SparsityRequest.Validated"/>'s.
    /// </summary>
    public SparsityOptions Sparsity(ParseResult r, string criterion, bool criterionGiven, IReadOnlyList<string> exclude)
    {
        string? nm = r.GetValue(Nm);
        if (nm is not null && (r.GetResult(SparsityValue) is { Implicit: false } || criterionGiven || r.GetResult(Scope) is { Implicit: false }))
            throw new SecateurException(ErrorCode.BadArgument, "--nm sets the sparsity and the criterion itself: drop --sparsity, --scope and --criterion");
        if (nm is null && r.GetValue(SparsityValue) is null)
            throw new SecateurException(ErrorCode.BadArgument, "weight pruning needs --sparsity (e.g. 0.9) or --nm (e.g. 2:4)");
        return new SparsityOptions
        {
            Sparsity = r.GetValue(SparsityValue) ?? 0,
            Scope = r.GetValue(Scope) == "global" ? SparsityScope.Global : SparsityScope.Layer,
            Criterion = criterion == "lamp" ? WeightCriterion.Lamp : WeightCriterion.Magnitude,
            Nm = nm is null ? null : NmPattern.Parse(nm),
            Exclude = exclude,
            PruneClassifier = r.GetValue(PruneClassifier),
        }.Validated();
    }

    /// <summary>The schedule a <c>--schedule</c> word names.</summary>
    public static SparsityScheduleKind Schedule(string text) => text switch
    {
        "oneshot" => SparsityScheduleKind.OneShot,
        "iterative" => SparsityScheduleKind.Iterative,
        "agp" => SparsityScheduleKind.Agp,
        "lottery" => SparsityScheduleKind.Lottery,
        _ => throw new SecateurException(ErrorCode.BadArgument, $"--schedule {text} is for channel pruning; weight pruning takes oneshot, iterative, agp or lottery"),
    };
}
