using System.CommandLine;
using System.Diagnostics;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Reporting;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur train</c>: trains a zoo model or an ONNX model on a dataset and saves it as ONNX.</summary>
public static class TrainCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = "zoo model name or .onnx file" };
        var o = new TrainingCliOptions();
        var output = new Option<string?>("--output", "-o") { Description = "where to save the trained model (default: <model>.trained.onnx)" };
        var json = CommonOptions.Json();
        var opset = CommonOptions.Opset();
        var cmd = new Command("train", "train a model on a dataset (the benchmark protocol's recipe by default) and save it as ONNX") { model, output, json, opset };
        o.AddTo(cmd);
        // What a recipe step is checked with before any step runs (secateur run): the training options.
        context.Checks[cmd.Name] = r => o.Training(r);
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var (graph, data) = o.Load(r, spec, context);
            var options = o.Training(r);
            var path = CommonOptions.NotAnInput(r.GetValue(output) ?? ModelSource.DefaultOutput(spec, ".trained.onnx"), spec);
            var outcome = Run(context, graph, data, options, o.Device(r), o.Threads(r));
            CommonOptions.Save(outcome.Graph, path, r.GetValue(opset));
            Report(context, r.GetValue(json), outcome, path);
            return 0;
        });
        return cmd;
    }

    /// <summary>What a training run produced.</summary>
    internal sealed record Outcome(ModelGraph Graph, IReadOnlyList<EpochResult> History, EvaluationResult Test, ModelStats Stats, string Data, double Seconds, int TrainImages);

    internal static Outcome Run(CliContext context, ModelGraph graph, DataSet data, TrainingOptions options, string device, int? threads)
    {
        var target = Devices.Parse(device); // loads libtorch: no torch call may come before it
        CommonOptions.ApplyTorchThreads(threads);
        var clock = Stopwatch.StartNew();
        using var module = new GraphModule(graph, target);
        var trainer = new Trainer(module, options);
        var train = data.TrainLoader(options.BatchSize, options.Seed, options.Augment);
        var test = data.TestLoader();
        var title = $"training {graph.Name} on {data.Name} ({Wording.Count(data.Train.Count, "image")}, {Wording.Count(options.Epochs, "epoch")})";
        var history = TrainingView.Run(context, title, options.Epochs * train.BatchesPerEpoch, (progress, refresh) =>
            trainer.Fit(train, test, progress, e =>
            {
                context.Error.WriteLine(TrainingView.EpochLine(e, options.Epochs));
                refresh(e);
            }));
        var result = (history.Count > 0 && history[^1].Test is { } last ? last : Trainer.Evaluate(module, test)).ForClasses(data.Train.ClassCount);
        var trained = module.ToGraph();
        trained.Preprocessing = data.Preprocessing; // the trained model expects what it was trained on (train and demo)
        return new Outcome(trained, history, result, ModelStats.Compute(trained), data.Name, clock.Elapsed.TotalSeconds, data.Train.Count);
    }

    /// <summary>The test figures in words: top-1 and top-5, or mean IoU and pixel accuracy.</summary>
    internal static string Scores(EvaluationResult e) => e.Segmentation is { } s
        ? FormattableString.Invariant($"mIoU {s.MeanIoU:P2} (pixel accuracy {s.PixelAccuracy:P2})")
        : FormattableString.Invariant($"accuracy {e.Top1:P2}{(e.Top5 is null ? "" : $" ({TrainingView.Top5(e, "top-5 ")})")}");

    internal static void Report(CliContext context, bool json, Outcome outcome, string path)
    {
        if (json)
        {
            context.WriteJson(new
            {
                verb = "train",
                model = outcome.Graph.Name,
                data = outcome.Data,
                trainImages = outcome.TrainImages,
                testImages = outcome.Test.Samples,
                @params = outcome.Stats.Params,
                macs = outcome.Stats.Macs,
                task = outcome.Test.Segmentation is null ? "classification" : "segmentation",
                accuracy = outcome.Test.Top1,
                top5 = outcome.Test.Segmentation is null ? outcome.Test.Top5 : (double?)null,
                miou = outcome.Test.Segmentation?.MeanIoU,
                pixelAccuracy = outcome.Test.Segmentation?.PixelAccuracy,
                classIoU = outcome.Test.Segmentation?.ClassIoU.Select(v => double.IsNaN(v) ? (double?)null : v),
                loss = outcome.Test.Loss,
                seconds = Math.Round(outcome.Seconds, 1),
                output = path,
                epochs = outcome.History.Select(e => new
                {
                    epoch = e.Epoch, trainLoss = e.Train.Loss, trainAccuracy = e.Train.Top1,
                    testLoss = e.Test?.Loss, testAccuracy = e.Test?.Top1, testMiou = e.Test?.Segmentation?.MeanIoU, imagesPerSecond = Math.Round(e.ImagesPerSecond, 1), seconds = Math.Round(e.Seconds, 1),
                }),
            });
            return;
        }
        context.Out.WriteLine(FormattableString.Invariant(
            $"{outcome.Graph.Name} on {outcome.Data}: test {Scores(outcome.Test)}, params {outcome.Stats.Params:N0}, MACs {outcome.Stats.Macs:N0}, {Wording.Duration(outcome.Seconds)}; saved {path}"));
    }
}
