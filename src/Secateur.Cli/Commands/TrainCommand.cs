using System.CommandLine;
using System.Diagnostics;
using Secateur.Analysis;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
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
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var data = o.LoadData(r);
            var graph = o.LoadModel(r, spec, data);
            var options = o.Training(r);
            var path = r.GetValue(output) ?? DefaultOutput(spec);
            var outcome = Run(context, graph, data, options, o.Device(r), o.Threads(r));
            CommonOptions.Save(outcome.Graph, path, r.GetValue(opset));
            Report(context, r.GetValue(json), outcome, path);
            return 0;
        });
        return cmd;
    }

    internal static string DefaultOutput(string spec) =>
        (File.Exists(spec) ? Path.Combine(Path.GetDirectoryName(spec) ?? ".", Path.GetFileNameWithoutExtension(spec)) : spec) + ".trained.onnx";

    /// <summary>What a training run produced.</summary>
    internal sealed record Outcome(ModelGraph Graph, IReadOnlyList<EpochResult> History, EvaluationResult Test, ModelStats Stats, string Data, double Seconds);

    internal static Outcome Run(CliContext context, ModelGraph graph, DataSet data, TrainingOptions options, string device, int? threads)
    {
        var target = Devices.Parse(device); // loads libtorch: no torch call may come before it
        if (threads is { } n)
        {
            if (n < 1) throw new SecateurException(ErrorCode.BadArgument, $"--threads must be at least 1 (got {n})");
            TorchSharp.torch.set_num_threads(n);
        }
        var clock = Stopwatch.StartNew();
        using var module = new GraphModule(graph, target);
        var trainer = new Trainer(module, options);
        var train = data.TrainLoader(options.BatchSize, options.Seed, options.Augment);
        var test = data.TestLoader();
        var title = $"training {graph.Name} on {data.Name} ({data.Train.Count:N0} images, {options.Epochs} epochs)";
        var history = TrainingView.Run(context, title, options.Epochs * train.BatchesPerEpoch, (progress, refresh) =>
            trainer.Fit(train, test, progress, e =>
            {
                context.Error.WriteLine(TrainingView.EpochLine(e, options.Epochs));
                refresh(e);
            }));
        var result = history.Count > 0 && history[^1].Test is { } last ? last : Trainer.Evaluate(module, test);
        var trained = module.ToGraph();
        return new Outcome(trained, history, result, ModelStats.Compute(trained), data.Name, clock.Elapsed.TotalSeconds);
    }

    internal static void Report(CliContext context, bool json, Outcome outcome, string path)
    {
        if (json)
        {
            context.WriteJson(new
            {
                model = outcome.Graph.Name,
                data = outcome.Data,
                @params = outcome.Stats.Params,
                macs = outcome.Stats.Macs,
                accuracy = outcome.Test.Top1,
                top5 = outcome.Test.Top5,
                loss = outcome.Test.Loss,
                seconds = Math.Round(outcome.Seconds, 1),
                output = path,
                epochs = outcome.History.Select(e => new
                {
                    epoch = e.Epoch, trainLoss = e.Train.Loss, trainAccuracy = e.Train.Top1,
                    testLoss = e.Test?.Loss, testAccuracy = e.Test?.Top1, imagesPerSecond = Math.Round(e.ImagesPerSecond, 1), seconds = Math.Round(e.Seconds, 1),
                }),
            });
            return;
        }
        context.Out.WriteLine(FormattableString.Invariant(
            $"{outcome.Graph.Name} on {outcome.Data}: test accuracy {outcome.Test.Top1:P2} (top-5 {outcome.Test.Top5:P2}), params {outcome.Stats.Params:N0}, MACs {outcome.Stats.Macs:N0}, {outcome.Seconds:0} s; saved {path}"));
    }
}

/// <summary>The data, model-shape and training options shared by <c>train</c> and <c>demo</c>.</summary>
internal sealed class TrainingCliOptions
{
    private readonly Option<string> _data = CommonOptions.Data();
    private readonly Option<string?> _dataDir = CommonOptions.DataDir();
    private readonly Option<string?> _input = CommonOptions.Input();
    private readonly Option<long?> _classes = CommonOptions.Classes();
    private readonly Option<int> _epochs = new("--epochs") { Description = "training epochs", DefaultValueFactory = _ => 5 };
    private readonly Option<int> _batch = CommonOptions.BatchSize();
    private readonly Option<double> _lr = new("--lr") { Description = "peak (one-cycle) or initial learning rate", DefaultValueFactory = _ => 0.1 };
    private readonly Option<string> _optimizer = new Option<string>("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" }.AcceptOnlyFromAmong("sgd", "adamw");
    private readonly Option<string> _schedule = new Option<string>("--schedule") { Description = "onecycle, cosine or constant", DefaultValueFactory = _ => "onecycle" }.AcceptOnlyFromAmong("onecycle", "cosine", "constant");
    private readonly Option<double> _momentum = new("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
    private readonly Option<bool> _noNesterov = new("--no-nesterov") { Description = "plain instead of Nesterov momentum" };
    private readonly Option<double> _wd = new("--weight-decay") { Description = "weight decay", DefaultValueFactory = _ => 5e-4 };
    private readonly Option<double> _warmup = new("--warmup") { Description = "fraction of steps warming up (one-cycle)", DefaultValueFactory = _ => 0.15 };
    private readonly Option<double> _smoothing = new("--label-smoothing") { Description = "label smoothing of the loss", DefaultValueFactory = _ => 0.0 };
    private readonly Option<bool> _noAugment = new("--no-augment") { Description = "train without pad-and-crop and flip augmentation" };
    private readonly Option<int?> _trainLimit = new("--train-limit") { Description = "use only the first N training images (quick runs)" };
    private readonly Option<string?> _checkpoint = new("--checkpoint") { Description = "checkpoint file written after every epoch" };
    private readonly Option<bool> _resume = new("--resume") { Description = "continue from --checkpoint if it exists" };
    private readonly Option<int> _seed = CommonOptions.Seed();
    private readonly Option<string> _device = CommonOptions.Device();
    private readonly Option<int?> _threads = CommonOptions.Threads();

    public void AddTo(Command cmd)
    {
        foreach (var option in new Option[] { _data, _dataDir, _input, _classes, _epochs, _batch, _lr, _optimizer, _schedule, _momentum, _noNesterov, _wd, _warmup, _smoothing, _noAugment, _trainLimit, _checkpoint, _resume, _seed, _device, _threads })
            cmd.Options.Add(option);
    }

    public DataSet LoadData(ParseResult r, string? overrideSpec = null)
    {
        var shape = r.GetValue(_input) is { } s ? ModelSource.ParseShape(s) : null;
        var data = DataSource.Resolve(overrideSpec ?? r.GetValue(_data)!, r.GetValue(_dataDir),
            shape is null ? null : new ImageShape((int)shape[0], (int)shape[1], (int)shape[2]));
        if (r.GetValue(_trainLimit) is { } limit)
        {
            if (limit < 1) throw new SecateurException(ErrorCode.BadArgument, $"--train-limit must be at least 1 (got {limit})");
            data = data.WithTrain(data.Train.Take(limit));
        }
        return data;
    }

    /// <summary>A zoo model takes the data's image shape and class count unless told otherwise; a file must match the data.</summary>
    public ModelGraph LoadModel(ParseResult r, string spec, DataSet data)
    {
        var input = r.GetValue(_input) ?? $"{data.Train.Channels}x{data.Train.Height}x{data.Train.Width}";
        var graph = ModelSource.Load(spec, input, r.GetValue(_classes) ?? data.Train.ClassCount, r.GetValue(_seed));
        CheckCompatible(graph, data);
        return graph;
    }

    internal static void CheckCompatible(ModelGraph graph, DataSet data)
    {
        var dims = graph.Inputs[0].Concrete(1);
        long[] expected = [1, data.Train.Channels, data.Train.Height, data.Train.Width];
        if (!dims.SequenceEqual(expected))
            throw new SecateurException(ErrorCode.BadArgument,
                $"model '{graph.Name}' takes input {graph.Inputs[0].ShapeText}, but {data.Name} images are {data.Train.Shape}");
        var classes = graph.Outputs[0].Dims[^1].Value;
        if (classes < data.Train.ClassCount)
            throw new SecateurException(ErrorCode.BadArgument, $"model '{graph.Name}' has {classes} outputs, but {data.Name} has {data.Train.ClassCount} classes");
    }

    public TrainingOptions Training(ParseResult r) => new TrainingOptions
    {
        Epochs = r.GetValue(_epochs),
        BatchSize = r.GetValue(_batch),
        LearningRate = r.GetValue(_lr),
        Optimizer = r.GetValue(_optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd,
        Schedule = r.GetValue(_schedule) switch { "cosine" => ScheduleKind.Cosine, "constant" => ScheduleKind.Constant, _ => ScheduleKind.OneCycle },
        Momentum = r.GetValue(_momentum),
        Nesterov = !r.GetValue(_noNesterov),
        WeightDecay = r.GetValue(_wd),
        WarmupFraction = r.GetValue(_warmup),
        LabelSmoothing = r.GetValue(_smoothing),
        Augment = !r.GetValue(_noAugment),
        Seed = r.GetValue(_seed),
        CheckpointPath = r.GetValue(_checkpoint),
        Resume = r.GetValue(_resume),
    }.Validated();

    public string Device(ParseResult r) => r.GetValue(_device)!;

    public int? Threads(ParseResult r) => r.GetValue(_threads);
}
