using System.CommandLine;
using Secateur.Pruning.Unstructured;
using Secateur.Reporting;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur sparsify</c>: weight-level (unstructured or N:M) sparsity with fixed masks during fine-tuning.</summary>
public static class SparsifyCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var common = new RecoveryOptions();
        var weights = new WeightOptions();
        var criterion = new Option<string>("--criterion") { Description = "magnitude (|w|) or lamp (layer-adaptive, for --scope global)", DefaultValueFactory = _ => "magnitude" }
            .AcceptOnlyFromAmong("magnitude", "lamp");
        var schedule = new Option<string>("--schedule") { Description = "oneshot, iterative, agp or lottery (rewinding to --rewind-epoch)", DefaultValueFactory = _ => "oneshot" }
            .AcceptOnlyFromAmong("oneshot", "iterative", "agp", "lottery");
        var cmd = new Command("sparsify", "zero the least important single weights (unstructured or N:M), fine-tune with the zeros fixed, save a sparse ONNX model")
        {
            criterion, schedule,
        };
        common.AddTo(cmd);
        weights.AddTo(cmd);
        // What a recipe step is checked with before any step runs (secateur run): the request without its data.
        context.Checks[cmd.Name] = r =>
        {
            weights.Sparsity(r, r.GetValue(criterion)!, r.GetResult(criterion) is { Implicit: false }, CommonOptions.Exclude(r, common.Exclude));
            new SparsityScheduleOptions(WeightOptions.Schedule(r.GetValue(schedule)!), r.GetValue(common.Steps), r.GetValue(weights.RewindEpoch)).Validated();
            common.FineTuning(r).Validated();
            common.Distillation(r)?.Validated();
        };
        cmd.SetAction(r => Execute(context, r, common, weights, r.GetValue(criterion)!, r.GetValue(schedule)!, r.GetResult(criterion) is { Implicit: false }));
        return cmd;
    }

    /// <summary>Runs weight pruning from parsed options (shared with the deprecated <c>prune --granularity weight</c>).</summary>
    internal static int Execute(CliContext context, ParseResult r, RecoveryOptions common, WeightOptions weights, string criterion, string schedule, bool criterionGiven)
    {
        var sparsity = weights.Sparsity(r, criterion, criterionGiven, CommonOptions.Exclude(r, common.Exclude));
        var (graph, set) = common.Load(r, context);
        var request = new SparsityRequest
        {
            Sparsity = sparsity,
            Schedule = new SparsityScheduleOptions(WeightOptions.Schedule(schedule), r.GetValue(common.Steps), r.GetValue(weights.RewindEpoch)),
            Data = set,
            FineTuning = common.FineTuning(r),
            Distillation = common.Distillation(r),
            Seed = r.GetValue(common.Seed),
            Device = r.GetValue(common.Device)!,
        };
        var outcome = SparsityPipeline.Run(graph, request, TrainingView.For(context));
        return common.Finish(context, r, graph, outcome.Graph, ".sparse.onnx",
            (path, command) => new SparsePruneSummary(outcome, path, command) { PreprocessingChoice = common.LastLoad?.ChoiceJson }, (files, command) => Reports.From(outcome, files, command));
    }
}
