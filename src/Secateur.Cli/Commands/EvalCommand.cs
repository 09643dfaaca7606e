using System.CommandLine;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur eval</c>: accuracy and loss of a model on a dataset's test split, with params and MACs.</summary>
public static class EvalCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file (or a zoo model name, untrained)" };
        var data = CommonOptions.Data();
        var dataDir = CommonOptions.DataDir();
        var batch = CommonOptions.BatchSize(256);
        var device = CommonOptions.Device();
        var limit = new Option<int?>("--test-limit") { Description = "evaluate only the first N test images" };
        var json = CommonOptions.Json();
        var cmd = new Command("eval", "evaluate a model on a dataset's test split") { model, data, dataDir, batch, device, limit, json };
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var set = DataSource.Resolve(r.GetValue(data)!, r.GetValue(dataDir));
            if (r.GetValue(limit) is { } n) set = set with { Test = set.Test.Take(Math.Max(1, n)) };
            var graph = ModelSource.Load(spec, $"{set.Test.Channels}x{set.Test.Height}x{set.Test.Width}", set.Test.ClassCount);
            TrainingCliOptions.CheckCompatible(graph, set, context.Error);
            using var module = new GraphModule(graph, Devices.Parse(r.GetValue(device)));
            var result = Trainer.Evaluate(module, set.TestLoader(r.GetValue(batch)));
            var stats = ModelStats.Compute(graph);
            if (r.GetValue(json))
                context.WriteJson(new { model = graph.Name, data = set.Name, samples = result.Samples, accuracy = result.Top1, top5 = result.Top5, loss = result.Loss, @params = stats.Params, macs = stats.Macs });
            else
                context.Out.WriteLine(FormattableString.Invariant(
                    $"{graph.Name} on {set.Name} test ({result.Samples:N0} images): accuracy {result.Top1:P2}, top-5 {result.Top5:P2}, loss {result.Loss:0.0000}; params {stats.Params:N0}, MACs {stats.Macs:N0}"));
            return 0;
        });
        return cmd;
    }
}
