using System.CommandLine;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Reporting;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary>
/// The options <c>prune</c> and <c>sparsify</c> share: the model's shape, the data, fine-tuning and distillation after
/// pruning, and where the result and the report go. Declared once, so both verbs spell and default them the same.
/// </summary>
internal sealed class RecoveryOptions
{
    public Argument<string> Model { get; } = new("model") { Description = ".onnx file or zoo model name" };
    public Option<string?> Data { get; } = new("--data") { Description = $"dataset for accuracy, data-driven criteria, recalibration and fine-tuning: {DataSource.Forms}" };
    public Option<string?> DataDir { get; } = CommonOptions.DataDir();
    public Option<int?> TrainLimit { get; } = new("--train-limit") { Description = "use only the first N training images" };
    public Option<string[]> Exclude { get; } = new("--exclude") { Description = "layers (names or patterns with *) to leave alone", AllowMultipleArgumentsPerToken = true };
    public Option<int> Epochs { get; } = new("--finetune-epochs") { Description = "fine-tuning epochs after pruning", DefaultValueFactory = _ => 0 };
    public Option<double> LearningRate { get; } = new("--lr") { Description = "fine-tuning learning rate (cosine annealing to 0)", DefaultValueFactory = _ => 0.01 };
    public Option<int> Batch { get; } = CommonOptions.BatchSize();
    public Option<bool> Distill { get; } = new("--distill") { Description = "fine-tune with knowledge distillation from the unpruned model" };
    public Option<double> Alpha { get; } = new("--distill-alpha") { Description = "weight of the distillation loss", DefaultValueFactory = _ => 0.7 };
    public Option<double> Temperature { get; } = new("--distill-temperature") { Description = "distillation temperature", DefaultValueFactory = _ => 4.0 };
    public Option<int> Steps { get; } = new("--steps") { Description = "pruning steps (or lottery rounds) of a schedule, fine-tuning --finetune-epochs after each", DefaultValueFactory = _ => 4 };
    public Option<string?> Checkpoint { get; } = new("--checkpoint") { Description = "fine-tuning checkpoint written after every epoch" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "continue fine-tuning from --checkpoint" };
    public Option<string?> Output { get; } = new("--output", "-o") { Description = "where to save the result (default: <model>.pruned.onnx, or <model>.sparse.onnx for weight pruning)" };
    public Option<string?> Report { get; } = new("--report") { Description = "write a report: .html (with charts; .md and .json beside it), .md or .json" };
    public Option<bool> Json { get; } = CommonOptions.Json();
    public Option<int?> Opset { get; } = CommonOptions.Opset();
    public Option<int> Seed { get; } = CommonOptions.Seed();
    public Option<string> Device { get; } = CommonOptions.Device();
    public Option<int?> Threads { get; } = CommonOptions.Threads();
    public Option<string?> Input { get; } = CommonOptions.Input();
    public Option<long?> Classes { get; } = CommonOptions.Classes();
    public PreprocessOptions Preprocess { get; } = new(task: true);
    // Label-free recovery (issue 13): appended here so that other option groups merge without conflict.
    public Option<bool> LabelFree { get; } = new("--label-free") { Description = "use the training images without their labels: fine-tuning distils from the unpruned model (test labels, if any, still score the result)" };
    public Option<string[]> Teachers { get; } = new("--teacher") { Description = "distil from this .onnx model instead of the unpruned one (repeat it: outputs averaged, an ensemble fused into one student)" };
    public Option<bool> DistillFeatures { get; } = new("--distill-features") { Description = "also match the unpruned model's activations where channels were pruned (attention transfer)" };
    public Option<double> FeatureWeight { get; } = new("--distill-feature-weight") { Description = "weight of --distill-features", DefaultValueFactory = _ => 1.0 };
    public Option<string> Precision { get; } = CommonOptions.Precision();
    public Option<string> ClassMaps { get; } = new Option<string>("--distill-class-maps")
    {
        Description = "how segmentation outputs (N×K×H×W class maps) are distilled: auto (balanced-kl on segmentation data, else mse), balanced-kl (per-pixel KL, every class weighted equally), kl (per-pixel KL), mse",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "balanced-kl", "kl", "mse");

    /// <summary>Adds every option (and the model argument) to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        cmd.Arguments.Add(Model);
        foreach (var o in new Option[] { Data, DataDir, TrainLimit, Exclude, Epochs, LearningRate, Batch, Distill, Alpha, Temperature, Steps, Checkpoint, Resume, Output, Report, Json, Opset, Seed, Device, Threads, Input, Classes, LabelFree, Teachers, DistillFeatures, FeatureWeight, Precision, ClassMaps })
            cmd.Options.Add(o);
        Preprocess.AddTo(cmd);
    }

    /// <summary>
    /// The model, its data (null without <c>--data</c>) fed as the model expects (see <see cref="PreprocessOptions.Load"/>),
    /// and <c>--threads</c> applied. The automatic preprocessing choice, if one was made, is told on stderr and kept in
    /// <see cref="LastLoad"/>.
    /// </summary>
    public (ModelGraph Graph, DataSet? Data) Load(ParseResult r, CliContext context)
    {
        // Before any work, not only at the save: an hour of fine-tuning must not end in this error.
        if (r.GetValue(Output) is { } output) CommonOptions.NotAnInput(output, r.GetValue(Model));
        CommonOptions.ApplyTorchThreads(CommonOptions.ThreadCount(r, Threads));
        string spec = r.GetValue(Model)!;
        if (r.GetValue(Data) is not { } d)
        {
            var alone = ModelSource.Load(spec, r.GetValue(Input), r.GetValue(Classes));
            if (Preprocess.Explicit(r, alone.Preprocessing) is { } given) alone.Preprocessing = given;
            return (alone, null);
        }
        var loaded = Preprocess.Load(r, spec, d, r.GetValue(DataDir), r.GetValue(Input), r.GetValue(Classes), r.GetValue(Seed), choose: true);
        loaded.Tell(context);
        LastLoad = loaded;
        var set = loaded.Data;
        if (r.GetValue(TrainLimit) is { } limit) set = set.WithTrain(set.Train.Take(Math.Max(1, limit)));
        if (r.GetValue(LabelFree)) set = set.WithoutTrainLabels();
        TrainingCliOptions.CheckCompatible(loaded.Graph, set, context.Error);
        return (loaded.Graph, set);
    }

    /// <summary>The last <see cref="Load"/>'s model and data, with how the preprocessing was chosen (null before, or without data).</summary>
    public Loaded? LastLoad { get; private set; }

    /// <summary>The fine-tuning recipe: SGD with Nesterov momentum, cosine-annealed learning rate.</summary>
    public TrainingOptions FineTuning(ParseResult r) => Secateur.Pruning.PruneRequest.DefaultFineTuning with
    {
        Epochs = r.GetValue(Epochs), LearningRate = r.GetValue(LearningRate), BatchSize = r.GetValue(Batch),
        Seed = r.GetValue(Seed), CheckpointPath = r.GetValue(Checkpoint), Resume = r.GetValue(Resume),
        Precision = CommonOptions.PrecisionOf(r, Precision),
    };

    /// <summary>
    /// Distillation settings with <c>--distill</c>, <c>--teacher</c>, <c>--distill-features</c> or <c>--label-free</c>
    /// (which always distils, so its temperature and class-map loss must reach it), else null (an unlabelled folder
    /// distils anyway, with the default settings).
    /// </summary>
    public DistillationOptions? Distillation(ParseResult r)
    {
        var teachers = r.GetValue(Teachers) ?? [];
        bool features = r.GetValue(DistillFeatures);
        if (!r.GetValue(Distill) && teachers.Length == 0 && !features && !r.GetValue(LabelFree)) return null;
        return new DistillationOptions(r.GetValue(Alpha), r.GetValue(Temperature))
        {
            FeatureWeight = features ? r.GetValue(FeatureWeight) : 0,
            ClassMaps = r.GetValue(ClassMaps) switch
            {
                "balanced-kl" => ClassMapLoss.BalancedKl,
                "kl" => ClassMapLoss.PixelKl,
                "mse" => ClassMapLoss.Mse,
                _ => ClassMapLoss.Auto,
            },
            Teachers = [.. teachers.Select(t => ModelSource.Load(t, r.GetValue(Input), r.GetValue(Classes)))],
        };
    }

    /// <summary>
    /// The end of both verbs: saves the result where <c>--output</c> says (or beside the model with
    /// <paramref name="suffix"/>), writes the report if <c>--report</c> asks, and prints the summary (one line, or <c>--json</c>).
    /// When <paramref name="unmet"/> says why the target was not met, it then prints that as an error and returns 6.
    /// </summary>
    public int Finish(CliContext context, ParseResult r, ModelGraph input, ModelGraph result, string suffix,
        Func<string, string, ISummary> summary, Func<ReportFiles, string, RunReport> report, string? unmet = null)
    {
        var path = CommonOptions.NotAnInput(r.GetValue(Output) ?? ModelSource.DefaultOutput(r.GetValue(Model)!, suffix), r.GetValue(Model));
        // The result expects exactly the inputs its original expected (and was fine-tuned on).
        if (LastLoad?.Data.Preprocessing is { } fed) result.Preprocessing = fed;
        else if (input.Preprocessing is { } recorded) result.Preprocessing ??= recorded;
        CommonOptions.Save(result, path, r.GetValue(Opset));
        string command = CommonOptions.CommandLine(r);
        if (r.GetValue(Report) is { } file)
        {
            var files = new ReportFiles(path, ModelSource.InputBytes(r.GetValue(Model)!, input), new FileInfo(path).Length);
            var written = report(files, command);
            if (LastLoad is { } load)
                written = written with { Notes = [.. written.Notes, $"Input preprocessing: {load.Data.Preprocessing.Describe()}" + (load.Choice is { } c ? $" ({c.Reason})." : ", recorded in the saved model.")] };
            ReportWriter.Write(written with { Recipe = context.Recipe }, file);
        }
        var s = summary(path, command);
        if (r.GetValue(Json)) context.WriteJson(s);
        else context.Out.WriteLine(s.Line());
        if (unmet is null) return 0;
        // Like every unmet target, exit 6; but what was reached is saved (and said where), so the work is not lost.
        context.Error.WriteLine($"error: the target was not met: {unmet}; the model it reached is saved in {path}");
        return (int)ErrorCode.ImpossibleTarget;
    }
}

/// <summary>A verb's result: its <c>--json</c> object (the implementing type's properties) and its one-line form.</summary>
public interface ISummary
{
    /// <summary>The one-line summary.</summary>
    string Line();
}
