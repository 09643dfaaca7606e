using System.CommandLine;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Reporting;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary>
/// <c>secateur eval</c>: accuracy and loss of a model on a dataset's test split, with params and MACs; with
/// <c>--against</c>, agreement with a reference model per output (<see cref="Agreement"/>), which needs no labels.
/// </summary>
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
        var against = new Option<string?>("--against") { Description = "also compare every output with this reference model (e.g. the dense model it was pruned from): relative error, cosine, top-1 agreement or mIoU; needs no labels" };
        var threads = CommonOptions.Threads();
        var preprocess = new PreprocessOptions(task: true);
        var cmd = new Command("eval", "evaluate a model on a dataset's test split") { model, data, dataDir, batch, device, limit, threads, json, against };
        preprocess.AddTo(cmd);
        cmd.SetAction(r =>
        {
            CommonOptions.ApplyTorchThreads(CommonOptions.ThreadCount(r, threads));
            var spec = r.GetValue(model)!;
            var loaded = preprocess.Load(r, spec, r.GetValue(data)!, r.GetValue(dataDir), null, null, 0, choose: true);
            loaded.Tell(context);
            var (graph, set) = (loaded.Graph, loaded.Data);
            if (r.GetValue(limit) is { } n) set = set with { Test = set.Test.Take(Math.Max(1, n)) };
            TrainingCliOptions.CheckCompatible(graph, set, context.Error);
            using var module = new GraphModule(graph, Devices.Parse(r.GetValue(device)));
            var stats = ModelStats.Compute(graph);
            if (r.GetValue(against) is { } referencePath)
                return Against(context, module, ModelSource.Load(referencePath, null, null), set, r.GetValue(batch), r.GetValue(json), stats, loaded);
            var result = Trainer.Evaluate(module, set.TestLoader(r.GetValue(batch))).ForClasses(set.Train.ClassCount);
            if (r.GetValue(json))
                context.WriteJson(new { verb = "eval", model = graph.Name, data = set.Name, task = result.Segmentation is null ? "classification" : "segmentation", testImages = result.Samples, samples = result.Samples, accuracy = result.Top1, top5 = result.Top5, miou = result.Segmentation?.MeanIoU, pixelAccuracy = result.Segmentation?.PixelAccuracy, classIoU = result.Segmentation?.ClassIoU.Select(v => double.IsNaN(v) ? (double?)null : v), loss = result.Loss, @params = stats.Params, macs = stats.Macs, preprocessing = loaded.Preprocessing, preprocessingChoice = loaded.ChoiceJson });
            else
                context.Out.WriteLine(FormattableString.Invariant(
                    $"{graph.Name} on {set.Name} test ({Wording.Count(result.Samples, "image")}): {TrainCommand.Scores(result)}, loss {result.Loss:0.0000}; params {stats.Params:N0}, MACs {stats.Macs:N0}; preprocessing {set.Preprocessing.Describe()}"));
            return 0;
        });
        return cmd;
    }

    /// <summary>Agreement with the reference per output, and accuracy too when the test images have labels.</summary>
    private static int Against(CliContext context, GraphModule module, ModelGraph referenceGraph, DataSet set, int batch, bool json, ModelStats stats, Loaded loaded)
    {
        using var reference = new GraphModule(referenceGraph, module.Device);
        var agreement = Agreement.Measure(module, reference, set.TestLoader(batch));
        var accuracy = set.TestLabelled ? Trainer.Evaluate(module, set.TestLoader(batch)) : null;
        var graph = module.Graph;
        if (json)
            context.WriteJson(new
            {
                verb = "eval", model = graph.Name, against = referenceGraph.Name, data = set.Name, testImages = agreement.Samples, samples = agreement.Samples, agreement = agreement.Outputs, score = agreement.Score,
                accuracy = accuracy?.Top1, top5 = accuracy?.Top5, loss = accuracy?.Loss, @params = stats.Params, macs = stats.Macs,
                preprocessing = loaded.Preprocessing, preprocessingChoice = loaded.ChoiceJson,
            });
        else
            context.Out.WriteLine(FormattableString.Invariant(
                $"{graph.Name} against {referenceGraph.Name} on {set.Name} test ({agreement.Samples:N0} images): {agreement}") +
                (accuracy is { } a ? FormattableString.Invariant($"; accuracy {a.Top1:P2}, top-5 {a.Top5:P2}, loss {a.Loss:0.0000}") : "") +
                FormattableString.Invariant($"; params {stats.Params:N0}, MACs {stats.Macs:N0}; preprocessing {set.Preprocessing.Describe()}"));
        return 0;
    }
}
