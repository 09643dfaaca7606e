using System.CommandLine;
using System.Globalization;
using Secateur.Pruning;
using Secateur.Reporting;
using Spectre.Console;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur sensitivity</c>: validation accuracy with each group pruned alone at several ratios.</summary>
public static class SensitivityCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file or zoo model name" };
        var data = CommonOptions.Data();
        var dataDir = CommonOptions.DataDir();
        var criterion = new Option<string>("--criterion") { Description = $"importance criterion: {string.Join(", ", Importances.Names)}", DefaultValueFactory = _ => "l1" };
        var ratios = new Option<string>("--ratios") { Description = "comma-separated fractions of each group to remove", DefaultValueFactory = _ => "0.25,0.5,0.75" };
        var validation = new Option<int>("--validation-images") { Description = "held-out training images (at most 10% of them) used to measure accuracy; the test split is never used for decisions", DefaultValueFactory = _ => 1000 };
        var json = CommonOptions.Json();
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var report = new Option<string?>("--report") { Description = "write a report: .html (with the sensitivity curves; .md and .json beside it), .md or .json" };
        var threads = CommonOptions.Threads();
        var preprocess = new PreprocessOptions();
        var cmd = new Command("sensitivity", "measure how much accuracy each group loses when pruned alone (per-group table or JSON)")
        { model, data, dataDir, criterion, ratios, validation, json, seed, device, threads, report };
        preprocess.AddTo(cmd);
        // What a recipe step is checked with before any step runs (secateur run): the criterion, the ratios, the threads.
        context.Checks[cmd.Name] = r =>
        {
            Importances.Create(r.GetValue(criterion)!);
            Sensitivity.CheckRatios(CommonOptions.ParseRatios(r.GetValue(ratios)!, "--ratios"));
            CommonOptions.ThreadCount(r, threads);
        };
        cmd.SetAction(r =>
        {
            CommonOptions.ApplyTorchThreads(CommonOptions.ThreadCount(r, threads));
            var loaded = preprocess.Load(r, r.GetValue(model)!, r.GetValue(data)!, r.GetValue(dataDir), null, null, r.GetValue(seed), choose: true);
            loaded.Tell(context);
            var (graph, set) = (loaded.Graph, loaded.Data);
            TrainingCliOptions.CheckCompatible(graph, set, context.Error);
            var list = CommonOptions.ParseRatios(r.GetValue(ratios)!, "--ratios");
            // Held out from the training data, like the pipeline's sensitivity allocation: never the test split.
            var valSet = set with { Test = HeldOut.Split(set, r.GetValue(seed), Math.Max(1, r.GetValue(validation))).Validation };
            var importance = Importances.Create(r.GetValue(criterion)!);
            var ctx = new ImportanceContext(importance.NeedsData ? set.TrainLoader(64, r.GetValue(seed), augment: false) : null, 8, r.GetValue(seed), r.GetValue(device)!);
            var (baseline, points) = Sensitivity.Analyze(graph, importance, ctx, valSet.TestLoader(), list,
                new Reporter(p => { if (!context.LiveProgress && p.Done % 10 == 0) context.Error.WriteLine($"  {p.Done}/{p.Total} measurements"); }));
            if (r.GetValue(report) is { } reportPath)
                ReportWriter.Write(Reports.Sensitivity(graph.Name, importance.Name, baseline, points, valSet.Test.Count,
                    set.Preprocessing.Describe() + (loaded.Choice is { } c ? $" ({c.Reason})" : ""), CommonOptions.CommandLine(r)) with { Recipe = context.Recipe }, reportPath);
            if (r.GetValue(json))
            {
                context.WriteJson(new { verb = "sensitivity", model = graph.Name, criterion = importance.Name, baseline, validationImages = valSet.Test.Count, ratios = list, points, preprocessing = loaded.Preprocessing, preprocessingChoice = loaded.ChoiceJson });
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple).Title($"{graph.Name}: accuracy drop (points) with one group pruned; baseline {baseline:P2} on {valSet.Test.Count} held-out training images; preprocessing {Markup.Escape(set.Preprocessing.Describe())}");
            table.AddColumn("group").AddColumn(new TableColumn("channels").RightAligned());
            foreach (var ratio in list) table.AddColumn(new TableColumn(ratio.ToString("0.##", CultureInfo.InvariantCulture)).RightAligned());
            foreach (var g in points.GroupBy(p => p.Group))
                table.AddRow([Markup.Escape(g.Key), g.First().Channels.ToString(CultureInfo.InvariantCulture), .. g.Select(p => (p.Drop * 100).ToString("0.00", CultureInfo.InvariantCulture))]);
            context.Console.Write(table);
            return 0;
        });
        return cmd;
    }

    private sealed class Reporter(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
