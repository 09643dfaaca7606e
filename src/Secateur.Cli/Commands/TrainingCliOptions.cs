using System.CommandLine;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Training;

namespace Secateur.Cli.Commands;

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
    private readonly Option<string> _precision = CommonOptions.Precision();
    private readonly PreprocessOptions _preprocess = new(task: true);

    public void AddTo(Command cmd)
    {
        foreach (var option in new Option[] { _data, _dataDir, _input, _classes, _epochs, _batch, _lr, _optimizer, _schedule, _momentum, _noNesterov, _wd, _warmup, _smoothing, _noAugment, _trainLimit, _checkpoint, _resume, _seed, _device, _threads, _precision })
            cmd.Options.Add(option);
        _preprocess.AddTo(cmd);
    }

    /// <summary>
    /// The model and its data: a zoo model takes the data's image shape and class count unless told otherwise; a file's
    /// data is decoded to its input size and fed the preprocessing given, else the one it records, else the preset it
    /// scores best with (told on stderr): fine-tuning a file must not move it to another input contract.
    /// </summary>
    public (ModelGraph Graph, DataSet Data) Load(ParseResult r, string spec, CliContext context)
    {
        var loaded = _preprocess.Load(r, spec, r.GetValue(_data)!, r.GetValue(_dataDir), r.GetValue(_input), r.GetValue(_classes), r.GetValue(_seed), choose: true);
        loaded.Tell(context);
        var data = loaded.Data;
        if (r.GetValue(_trainLimit) is { } limit)
        {
            if (limit < 1) throw new SecateurException(ErrorCode.BadArgument, $"--train-limit must be at least 1 (got {limit})");
            data = data.WithTrain(data.Train.Take(limit));
        }
        CheckCompatible(loaded.Graph, data, context.Error);
        return (loaded.Graph, data);
    }

    internal static void CheckCompatible(ModelGraph graph, DataSet data, TextWriter? warnings = null)
    {
        foreach (var w in DataWarnings(graph, data)) warnings?.WriteLine($"warning: {w}");
        var dims = graph.Inputs[0].Concrete(1);
        // What the loaders batch (after colour conversion, in the preprocessing's layout), so NHWC models fit too.
        long[] expected = [1, .. data.SampleShape];
        if (!dims.SequenceEqual(expected))
            throw new SecateurException(ErrorCode.BadArgument,
                $"model '{graph.Name}' takes input {graph.Inputs[0].ShapeText}, but {data.Name} images are fed as Nx{string.Join('x', data.SampleShape)} (images are decoded to the model's input size; for a zoo model give --input)");
        // Unlabelled images have no classes to check against the model's outputs.
        if (!data.TrainLabelled) return;
        if (data.Train.HasMasks)
        {
            CheckSegmentation(graph, data);
            return;
        }
        var classes = graph.Outputs[0].Dims[^1].Value;
        if (classes < data.Train.ClassCount)
            throw new SecateurException(ErrorCode.BadArgument, $"model '{graph.Name}' has {classes} outputs, but {data.Name} has {data.Train.ClassCount} classes");
        // One class makes every accuracy 100% by construction: no figure from such a run could mean anything.
        var present = data.Train.CountPerClass().Count(n => n > 0);
        if (present < 2)
            throw new SecateurException(ErrorCode.BadArgument, $"the {data.Train.Count} training images of {data.Name} all belong to one class: accuracy would be 100% by construction; give at least two classes", ParameterNames.Data);
    }

    /// <summary>A segmentation model outputs N×K×H×W at its input's resolution, K at least the masks' classes.</summary>
    private static void CheckSegmentation(ModelGraph graph, DataSet data)
    {
        var o = graph.Outputs[0].Dims;
        if (o.Count != 4 || o.Skip(1).Any(d => d.IsSymbolic) || o[2].Value != data.Train.Height || o[3].Value != data.Train.Width)
            throw new SecateurException(ErrorCode.BadArgument,
                $"model '{graph.Name}' outputs {graph.Outputs[0].ShapeText}; segmentation of {data.Name} needs Nx{data.Train.ClassCount}x{data.Train.Height}x{data.Train.Width} scores (one per class and pixel, at the input's resolution)", ParameterNames.Task);
        if (o[1].Value < data.Train.ClassCount)
            throw new SecateurException(ErrorCode.BadArgument, $"model '{graph.Name}' scores {o[1].Value} classes per pixel, but the masks of {data.Name} have {data.Train.ClassCount}", ParameterNames.Task);
    }

    /// <summary>
    /// One-line warnings for data that runs but may not mean what the user thinks: a model with more outputs than the
    /// data has classes (the extra outputs are never a right answer).
    /// </summary>
    internal static IReadOnlyList<string> DataWarnings(ModelGraph graph, DataSet data)
    {
        if (data.Train.HasMasks || !data.TrainLabelled) return [];
        var classes = graph.Outputs[0].Dims[^1].Value;
        return classes > data.Train.ClassCount
            ? [$"model '{graph.Name}' has {classes} outputs but {data.Name} has {data.Train.ClassCount} classes: outputs {data.Train.ClassCount}-{classes - 1} are never a right answer"]
            : [];
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
        Precision = CommonOptions.PrecisionOf(r, _precision),
    }.Validated();

    public string Device(ParseResult r) => r.GetValue(_device)!;

    public int? Threads(ParseResult r) => CommonOptions.ThreadCount(r, _threads);
}
