using System.CommandLine;
using System.Globalization;
using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Pruning;
using Secateur.Reporting;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur prune</c>: structured channel pruning to a target, with BN recalibration and fine-tuning (the workflow is <see cref="PruningPipeline"/>).</summary>
public static class PruneCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var common = new RecoveryOptions();
        var channel = new PruneOptions();
        var weights = new WeightOptions();
        var granularity = new Option<string>("--granularity") { Description = "channel (remove channels: a smaller dense model) or weight (deprecated here: use 'sparsify')", DefaultValueFactory = _ => "channel" }
            .AcceptOnlyFromAmong("channel", "weight");
        var cmd = new Command("prune", "remove the least important channels for real, recalibrate, fine-tune, save a smaller ONNX model");
        common.AddTo(cmd);
        foreach (var o in channel.All) cmd.Options.Add(o);
        cmd.Options.Add(granularity);
        // Kept so that old command lines and recipes run; 'sparsify' is the verb whose parser owns them.
        weights.AddTo(cmd);
        // What a recipe step is checked with before any step runs: the request as the verb would build it.
        context.Checks[cmd.Name] = r =>
        {
            if (r.GetValue(granularity) == "weight" || r.GetValue(weights.Nm) is not null) return;
            var request = channel.Request(r, common, null);
            // Without --data the whole request must hold; with it, everything but the data-dependent rules.
            if (r.GetValue(common.Data) is null) request.Validated();
            else
            {
                request.Target.Validated();
                request.Allocation.Validated();
                request.Schedule.Validated();
                request.FineTuning.Validated();
                request.Distillation?.Validated();
            }
        };
        cmd.SetAction(r =>
        {
            if (r.GetValue(granularity) == "weight" || r.GetValue(weights.Nm) is not null) return WeightGranularity(context, r, common, channel, weights);
            foreach (var o in weights.All)
                if (Given(r, o)) throw new SecateurException(ErrorCode.BadArgument, $"{o.Name} needs --granularity weight (better: the sparsify verb)");
            if (r.GetValue(channel.Schedule) == "lottery") throw new SecateurException(ErrorCode.BadArgument, "--schedule lottery needs --granularity weight (better: the sparsify verb)");
            // Schedule settings the chosen schedule does not read: a warning, not an error, as for every ignored setting.
            var schedule = r.GetValue(channel.Schedule);
            if (schedule is "oneshot" or null && Given(r, common.Steps)) context.Error.WriteLine("warning: --steps has no effect with the one-shot schedule (use --schedule iterative, agp or dynamic)");
            if (schedule != "dynamic" && Given(r, channel.Tolerance)) context.Error.WriteLine("warning: --tolerance has no effect without --schedule dynamic");
            var (graph, set) = common.Load(r, context);
            if (r.GetValue(channel.DryRun)) return DryRun(context, graph, CommonOptions.Exclude(r, common.Exclude), r.GetValue(common.Json));
            var outcome = PruningPipeline.Run(graph, channel.Request(r, common, set), TrainingView.For(context));
            foreach (var warning in outcome.Warnings) context.Error.WriteLine($"warning: {warning}");
            foreach (var note in outcome.Notes) context.Error.WriteLine($"note: {note}");
            return common.Finish(context, r, graph, outcome.Graph, ".pruned.onnx",
                (path, command) => new PruneSummary(outcome, path, command) { PreprocessingChoice = common.LastLoad?.ChoiceJson }, (files, command) => Reports.From(outcome, files, command),
                outcome.ReachedTarget ? null : outcome.Stop);
        });
        return cmd;
    }

    private static bool Given(ParseResult r, Option o) => r.GetResult(o) is { Implicit: false };

    /// <summary>The old spelling of <c>sparsify</c>: the channel options it must refuse are checked by hand, then the same workflow runs.</summary>
    private static int WeightGranularity(CliContext context, ParseResult r, RecoveryOptions common, PruneOptions channel, WeightOptions weights)
    {
        foreach (var o in channel.ChannelOnly)
            if (Given(r, o)) throw new SecateurException(ErrorCode.BadArgument, $"{o.Name} is for channel pruning; weight pruning takes --sparsity, --scope, --criterion magnitude|lamp or --nm");
        bool given = Given(r, channel.Criterion);
        string criterion = given ? r.GetValue(channel.Criterion)!.ToLowerInvariant() : "magnitude";
        if (criterion is not ("magnitude" or "lamp"))
            throw new SecateurException(ErrorCode.BadArgument, $"--criterion {criterion} is for channel pruning; weight pruning takes magnitude or lamp");
        int code = SparsifyCommand.Execute(context, r, common, weights, criterion, r.GetValue(channel.Schedule)!, given);
        // Last, so that it is seen after the run's output, and so that a mistake stays a one-line error.
        context.Error.WriteLine("note: 'prune --granularity weight' and 'prune --nm' are deprecated; 'secateur sparsify' takes the same options");
        return code;
    }

    private static int DryRun(CliContext context, ModelGraph graph, IReadOnlyList<string> exclude, bool json)
    {
        var entries = Pruner.Preflight(graph, exclude);
        var stats = ModelStats.Compute(graph);
        if (json)
        {
            context.WriteJson(new { model = graph.Name, @params = stats.Params, macs = stats.Macs, prunable = entries.Count(e => e.Prunable), blocked = entries.Count(e => !e.Prunable), groups = entries });
            return 0;
        }
        var table = new TextTable($"{graph.Name}: {entries.Count(e => e.Prunable)} prunable groups, {entries.Count(e => !e.Prunable)} blocked",
            new("group", Shrink: true), new("channels", Right: true), new("layers", Shrink: true), new("status"));
        foreach (var e in entries)
            table.Add(e.Group, e.Channels.ToString(CultureInfo.InvariantCulture),
                // On a terminal the first layer and a count; in plain text (pipes, logs) every layer.
                context.TableWidth is null || e.Layers.Count <= 1 ? string.Join(", ", e.Layers) : $"{e.Layers[0]} +{e.Layers.Count - 1}",
                e.Prunable ? "prunable" : "blocked: " + (e.Reason ?? ""));
        table.Write(context);
        return 0;
    }
}
