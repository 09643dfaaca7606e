using System.CommandLine;
using System.Runtime.CompilerServices;
using Secateur.Data;
using Secateur.Graph;

namespace Secateur.Cli.Commands;

/// <summary>
/// The input-preprocessing options of every verb that feeds a model data (<c>--preprocess</c>, <c>--mean</c>,
/// <c>--std</c>, <c>--input-range</c>, <c>--bgr</c>, <c>--gray-to-rgb</c>, <c>--layout</c>), and the one way those
/// verbs load a model with its data, so that a model is fed what it expects in every verb.
/// </summary>
/// <param name="task">Also take <c>--task</c> and <c>--ignore-index</c> (the verbs that train or score: train, eval, prune, sparsify).</param>
internal sealed class PreprocessOptions(bool task = false)
{
    public Option<string?> Preprocess { get; } = new("--preprocess")
    {
        Description = $"the model's input preprocessing: a preset ({string.Join(", ", InputPreprocessing.Presets.Select(p => p.Name))}), {InputPreprocessing.FromDataName} (statistics of the training images), or key=value;… (default: what the model records, else the preset that scores best on labelled images)",
    };
    public Option<string?> Mean { get; } = new("--mean") { Description = "per-channel mean subtracted, in the units of --input-range, e.g. 0.485,0.456,0.406" };
    public Option<string?> Std { get; } = new("--std") { Description = "per-channel standard deviation divided by, e.g. 0.229,0.224,0.225" };
    public Option<string?> Range { get; } = new Option<string?>("--input-range") { Description = "pixel range before normalisation: 0-1, 0-255 or -1-1" }.AcceptOnlyFromAmong("0-1", "0-255", "-1-1");
    public Option<bool> Bgr { get; } = new("--bgr") { Description = "the model takes its colour channels in BGR order (OpenCV, Caffe)" };
    public Option<bool> GrayToRgb { get; } = new("--gray-to-rgb") { Description = "replicate grayscale images into three channels for an RGB model" };
    public Option<string?> Layout { get; } = new Option<string?>("--layout") { Description = "the model's input layout: nchw or nhwc" }.AcceptOnlyFromAmong("nchw", "nhwc");
    public Option<string?> Task { get; } = CommonOptions.Task();
    public Option<int> IgnoreIndex { get; } = CommonOptions.IgnoreIndex();

    // Which instance a verb's options belong to, so that secateur run can check a step's preprocessing before step 1.
    private static readonly ConditionalWeakTable<Command, PreprocessOptions> Registered = new();

    /// <summary>Adds every option to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Preprocess, Mean, Std, Range, Bgr, GrayToRgb, Layout })
            cmd.Options.Add(o);
        Registered.AddOrUpdate(cmd, this);
        if (!task) return;
        cmd.Options.Add(Task);
        cmd.Options.Add(IgnoreIndex);
    }

    /// <summary>The preprocessing options of <paramref name="cmd"/>, or null when it takes none.</summary>
    public static PreprocessOptions? Of(Command cmd) => Registered.TryGetValue(cmd, out var o) ? o : null;

    /// <summary>
    /// Checks the given preprocessing without loading data, as <see cref="Explicit"/> would build it: against what the
    /// model records when <paramref name="recordedKnown"/>, else (a model an earlier step writes) the single-field
    /// options among themselves, so that <c>--mean</c> alone is not held against a base it will not have.
    /// </summary>
    public void Check(ParseResult r, InputPreprocessing? recorded, bool recordedKnown)
    {
        if (!recordedKnown && (r.GetValue(Mean) is null) != (r.GetValue(Std) is null))
        {
            int n = (r.GetValue(Mean) ?? r.GetValue(Std))!.Split(',').Length;
            recorded = InputPreprocessing.Unit with { Mean = new float[n], Std = Enumerable.Repeat(1f, n).ToArray() };
        }
        Explicit(r, recorded);
    }

    /// <summary>True for <c>--preprocess from-data</c>.</summary>
    public bool FromData(ParseResult r) =>
        string.Equals(r.GetValue(Preprocess)?.Trim(), InputPreprocessing.FromDataName, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The description the user gave, or null when none of the options was given: <c>--preprocess</c> (else the
    /// model's recorded one, else <c>unit</c>) with the single-field options applied on top.
    /// </summary>
    public InputPreprocessing? Explicit(ParseResult r, InputPreprocessing? recorded)
    {
        var text = r.GetValue(Preprocess);
        bool fromData = FromData(r);
        var overrides = new List<string>();
        if (r.GetValue(Range) is { } range) overrides.Add("range=" + range switch { "0-255" => "0..255", "-1-1" => "-1..1", _ => "0..1" });
        if (r.GetValue(Mean) is { } mean) overrides.Add("mean=" + mean);
        if (r.GetValue(Std) is { } std) overrides.Add("std=" + std);
        if (r.GetValue(Bgr)) overrides.Add("order=bgr");
        if (r.GetValue(GrayToRgb)) overrides.Add("color=gray-to-rgb");
        if (r.GetValue(Layout) is { } layout) overrides.Add("layout=" + layout);
        if ((text is null || fromData) && overrides.Count == 0) return null;
        // A failure in the --preprocess text is the text's, whatever its field.
        InputPreprocessing baseline;
        try
        {
            baseline = text is not null && !fromData ? InputPreprocessing.Parse(text) : recorded ?? InputPreprocessing.Unit;
        }
        catch (SecateurException e) when (e.Parameter != ParameterNames.Preprocessing)
        {
            throw new SecateurException(e.Code, e.Message, ParameterNames.Preprocessing);
        }
        if (overrides.Count == 0) return baseline;
        // The overrides go through the compact form so that one parser (and its one-line errors) checks every value;
        // a failure of the statistics points at the flag the user typed (--mean or --std), else at --preprocess.
        try
        {
            return InputPreprocessing.Parse(baseline + ";" + string.Join(';', overrides));
        }
        catch (SecateurException e) when (e.Parameter is nameof(InputPreprocessing.Mean) or nameof(InputPreprocessing.Std))
        {
            bool gaveMean = r.GetValue(Mean) is not null, gaveStd = r.GetValue(Std) is not null;
            var parameter = e.Parameter == nameof(InputPreprocessing.Mean) ? (gaveMean ? e.Parameter : gaveStd ? nameof(InputPreprocessing.Std) : ParameterNames.Preprocessing)
                : gaveStd ? e.Parameter : gaveMean ? nameof(InputPreprocessing.Mean) : ParameterNames.Preprocessing;
            throw new SecateurException(e.Code, e.Message, parameter);
        }
    }

    /// <summary>
    /// Loads the model, then its data as the model expects it: decoded to the model's input size by its resize policy
    /// and fed with the explicit preprocessing, else the one the model records. A model file that records none is fed
    /// the preset that classifies the labelled test images best when <paramref name="choose"/> (the returned choice
    /// says which and why; no labels is an error asking for <c>--preprocess</c>); a zoo model (untrained) uses the
    /// dataset's own protocol.
    /// </summary>
    public Loaded Load(ParseResult r, string modelSpec, string dataSpec, string? dataDir, string? input, long? classes, int seed, bool choose)
    {
        if (IsFile(modelSpec))
        {
            var graph = ModelSource.Load(modelSpec, input, classes, seed);
            var given = Explicit(r, graph.Preprocessing);
            var feed = given ?? graph.Preprocessing;
            var options = DataSourceOptions.ForModel(graph) with
            {
                Task = task ? CommonOptions.TaskKind(r, Task) : null,
                IgnoreIndex = task ? r.GetValue(IgnoreIndex) : ImageDataset.DefaultIgnoreIndex,
                DataDirectory = dataDir,
                Preprocessing = feed,
                StatisticsFromData = FromData(r),
                ImageShape = ImageShape(graph, feed),
            };
            var set = DataSource.Resolve(dataSpec, options);
            PreprocessingChoice? choice = null;
            // The choice scores presets by classification accuracy: a segmentation set is fed [0, 1] unless told.
            if (choose && feed is null && !FromData(r) && !set.Train.HasMasks)
            {
                choice = PreprocessingSelection.Choose(graph, set.Test, new PreprocessingSelectionOptions { Seed = seed });
                // The chosen resize policy decides how image folders are decoded, so reload when it differs.
                set = choice.Chosen.Resize == set.Preprocessing.Resize ? set.WithPreprocessing(choice.Chosen)
                    : DataSource.Resolve(dataSpec, options with { Preprocessing = choice.Chosen, ImageShape = ImageShape(graph, choice.Chosen) });
            }
            return new Loaded(graph, set, choice);
        }
        else
        {
            // A zoo model takes its shape from the data (or --input), so the data comes first.
            var shape = input is { } s ? ModelSource.ParseShape(s) : null;
            var set = DataSource.Resolve(dataSpec, new DataSourceOptions
            {
                Task = task ? CommonOptions.TaskKind(r, Task) : null,
                IgnoreIndex = task ? r.GetValue(IgnoreIndex) : ImageDataset.DefaultIgnoreIndex,
                ClassCount = classes is { } k ? (int)Math.Clamp(k, 2, 255) : null,
                DataDirectory = dataDir,
                ImageShape = shape is null ? null : new ImageShape((int)shape[0], (int)shape[1], (int)shape[2]),
                Preprocessing = Explicit(r, null),
                StatisticsFromData = FromData(r),
            });
            var graph = ModelSource.Load(modelSpec, input ?? $"{set.Train.Channels}x{set.Train.Height}x{set.Train.Width}", classes ?? set.Train.ClassCount, seed);
            return new Loaded(graph, set, null);
        }
    }

    private static bool IsFile(string spec) =>
        File.Exists(spec) || spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || spec.EndsWith(".sct", StringComparison.OrdinalIgnoreCase);

    /// <summary>The model's input image size in the layout it is fed (an unrecorded NHWC input is recognised by its channel count).</summary>
    private static ImageShape? ImageShape(ModelGraph graph, InputPreprocessing? feed) => feed is { } p
        ? DataSourceOptions.InputImageShape(graph, p.Layout)
        : DataSourceOptions.InputImageShape(graph) ?? DataSourceOptions.InputImageShape(graph, InputLayout.Nhwc);
}

/// <summary>A model with its data, and how its preprocessing was chosen when it records none.</summary>
/// <param name="Graph">The model.</param>
/// <param name="Data">Its data, fed with the model's preprocessing.</param>
/// <param name="Choice">The automatic choice, or null when the preprocessing was recorded, given or the data's own.</param>
internal sealed record Loaded(ModelGraph Graph, DataSet Data, PreprocessingChoice? Choice)
{
    /// <summary>The compact form of what the model is fed, for <c>--json</c>.</summary>
    public string Preprocessing => Data.Preprocessing.ToString();

    /// <summary>The choice for <c>--json</c>: chosen, reason, and every candidate's accuracy; null when nothing was chosen.</summary>
    public object? ChoiceJson => Choice is { } c
        ? new { chosen = c.Chosen.Describe(), reason = c.Reason, clear = c.Clear, samples = c.Samples, candidates = c.Candidates.Select(x => new { name = x.Name, accuracy = x.Accuracy }).ToList() }
        : null;

    /// <summary>Writes the choice's reason on stderr (one line), where progress goes, so stdout stays the result.</summary>
    public void Tell(CliContext context)
    {
        if (Choice is { } c) context.Error.WriteLine($"preprocessing: {c.Chosen.Describe()} ({c.Reason})");
    }
}
