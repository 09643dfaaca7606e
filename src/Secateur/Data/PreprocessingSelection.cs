using System.Globalization;
using Secateur.Graph;
using Secateur.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Secateur.Data;

/// <summary>How <see cref="PreprocessingSelection.Choose"/> evaluates the candidates.</summary>
public sealed record PreprocessingSelectionOptions
{
    /// <summary>Labelled images evaluated per candidate (a seeded random sample when there are more).</summary>
    public int Samples { get; init; } = 300;

    /// <summary>Seed of the sample.</summary>
    public int Seed { get; init; }

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>
    /// The descriptions to try, in order of preference on a tie; null for every preset that fits the model's input
    /// (channels, layout) and the images (with the colour conversion they need).
    /// </summary>
    public IReadOnlyList<InputPreprocessing>? Candidates { get; init; }

    /// <summary>
    /// The lead in accuracy (a fraction, 0.02 = 2 points) below which the choice is reported as uncertain.
    /// </summary>
    public double ClearMargin { get; init; } = 0.02;

    /// <summary>Checks the values; throws <see cref="SecateurException"/> (BadArgument) when one is out of range.</summary>
    public PreprocessingSelectionOptions Validated()
    {
        if (Samples < 1) throw new SecateurException(ErrorCode.BadArgument, $"the preprocessing choice needs at least 1 sample (got {Samples})", nameof(Samples));
        if (BatchSize < 1) throw new SecateurException(ErrorCode.BadArgument, $"the batch size must be at least 1 (got {BatchSize})", nameof(BatchSize));
        if (Candidates is { Count: 0 }) throw new SecateurException(ErrorCode.BadArgument, "the preprocessing choice needs at least one candidate", nameof(Candidates));
        if (!(ClearMargin >= 0 && ClearMargin <= 1)) throw new SecateurException(ErrorCode.BadArgument, $"the clear margin must be in [0, 1] (got {ClearMargin})", nameof(ClearMargin));
        foreach (var c in Candidates ?? []) c.Validated();
        return this;
    }
}

/// <summary>One candidate's result.</summary>
/// <param name="Preprocessing">The description evaluated.</param>
/// <param name="Accuracy">Top-1 accuracy on the sample, in [0, 1].</param>
public sealed record PreprocessingCandidate(InputPreprocessing Preprocessing, double Accuracy)
{
    /// <summary>Short name for reports (the preset's name, or the compact form).</summary>
    public string Name => Preprocessing.Describe();
}

/// <summary>Which preprocessing a model is fed, and why.</summary>
/// <param name="Chosen">The description to use.</param>
/// <param name="Recorded">True when the model recorded it (nothing was evaluated).</param>
/// <param name="Candidates">Every candidate evaluated with its accuracy, best first (empty when recorded).</param>
/// <param name="Samples">Labelled images each candidate was evaluated on (0 when recorded).</param>
/// <param name="Reason">One sentence for the user: where the description comes from, or the accuracies that chose it.</param>
/// <param name="Clear">False when the runner-up came within <see cref="PreprocessingSelectionOptions.ClearMargin"/>.</param>
public sealed record PreprocessingChoice(
    InputPreprocessing Chosen, bool Recorded, IReadOnlyList<PreprocessingCandidate> Candidates, int Samples, string Reason, bool Clear);

/// <summary>
/// Decides what a model is fed without guessing silently: the description the model records when it has one; else
/// the candidate (by default every fitting preset) that classifies a sample of labelled images best, reported with
/// every candidate's accuracy; and without labelled images, a failure asking for an explicit description.
/// </summary>
public static class PreprocessingSelection
{
    /// <summary>Chooses the preprocessing of <paramref name="model"/>.</summary>
    /// <param name="model">A classifier with one image input and logits of shape N×classes.</param>
    /// <param name="labelled">Labelled images (CHW, [0, 1]) of the model's input size, or null when there are none.</param>
    /// <param name="options">Sample size and candidates.</param>
    /// <param name="device">Where to run the model (CPU when null).</param>
    /// <exception cref="SecateurException">
    /// BadArgument, parameter "Preprocessing": the model records none and there are no labelled images, or their
    /// labels do not fit the model's outputs, or no candidate fits the model's input.
    /// </exception>
    public static PreprocessingChoice Choose(ModelGraph model, ImageDataset? labelled, PreprocessingSelectionOptions? options = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Preprocessing is { } recorded)
            return new PreprocessingChoice(recorded, true, [], 0, $"the model records its input preprocessing ({recorded.Describe()})", true);
        options = (options ?? new PreprocessingSelectionOptions()).Validated();
        if (labelled is null || labelled.Count == 0 || !labelled.IsLabelled)
            throw Bad("the model records no input preprocessing and there are no labelled images to choose one by; give the preprocessing explicitly");
        if (model.Outputs.Count > 0 && model.Outputs[0].Dims is { Count: 2 } outDims && !outDims[1].IsSymbolic && outDims[1].Value < labelled.ClassCount)
            throw Bad($"the model records no input preprocessing and the labelled images' {labelled.ClassCount} classes do not fit its {outDims[1].Value} outputs, so they cannot choose one; give the preprocessing explicitly");

        var candidates = options.Candidates ?? DefaultCandidates(model, labelled.Shape);
        var sample = Sample(labelled, options.Samples, options.Seed);
        var results = new List<PreprocessingCandidate>();
        using (var module = new GraphModule(model, device))
        {
            module.eval();
            foreach (var candidate in candidates)
            {
                var loader = new DataLoader(sample, options.BatchSize, prefetch: false, preprocessing: candidate);
                CheckFits(model, loader.SampleShape, candidate);
                results.Add(new PreprocessingCandidate(candidate, Accuracy(module, loader)));
            }
        }

        // Best first; a stable sort keeps the candidates' order on ties, so the earlier (simpler) one wins.
        var ranked = results.Select((r, i) => (r, i)).OrderByDescending(x => x.r.Accuracy).ThenBy(x => x.i).Select(x => x.r).ToList();
        var best = ranked[0];
        bool clear = ranked.Count == 1 || best.Accuracy - ranked[1].Accuracy >= options.ClearMargin;
        var others = string.Join(", ", ranked.Skip(1).Select(r => $"{r.Name} {Percent(r.Accuracy)}"));
        var reason = $"the model records no input preprocessing; {best.Name} scored {Percent(best.Accuracy)} top-1 on {sample.Count} labelled images"
            + (others.Length > 0 ? $", ahead of {others}" : "")
            + (clear ? "" : $"; the lead is under {Percent(options.ClearMargin)}, so the choice is uncertain: give the preprocessing explicitly to be sure");
        return new PreprocessingChoice(best.Preprocessing, false, ranked, sample.Count, reason, clear);
    }

    /// <summary>
    /// Every preset that fits <paramref name="model"/>'s input and images of <paramref name="images"/> shape, once per
    /// layout the input's dimensions allow, with the colour conversion the images need; for colour images into a
    /// three-channel input, once in RGB and once in BGR order (RGB first, so that it wins a tie).
    /// </summary>
    /// <exception cref="SecateurException">BadArgument when no layout of the model's input matches the images.</exception>
    public static IReadOnlyList<InputPreprocessing> DefaultCandidates(ModelGraph model, ImageShape images)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layouts = new List<(InputLayout Layout, int Channels)>();
        foreach (var layout in new[] { InputLayout.Nchw, InputLayout.Nhwc })
            if (DataSourceOptions.InputImageShape(model, layout) is { } s && s.Height == images.Height && s.Width == images.Width
                && (s.Channels == images.Channels || images.Channels is 1 or 3))
                layouts.Add((layout, s.Channels));
        if (layouts.Count == 0)
        {
            var input = model.Inputs.Count > 0 ? model.Inputs[0].ShapeText : "nothing";
            throw Bad($"the model's input {input} takes no {images} images in either layout, so no preprocessing can be chosen for them");
        }
        var result = new List<InputPreprocessing>();
        foreach (var (layout, channels) in layouts)
        {
            var color = (images.Channels, channels) switch
            {
                (1, 3) => ColorConversion.GrayToRgb,
                (3, 1) => ColorConversion.RgbToGray,
                _ => ColorConversion.None,
            };
            // Colour images into a colour model: RGB or BGR (OpenCV and Caffe pipelines) is the model's, so both are
            // tried. Gray images replicated into three channels look the same in either order, so RGB alone.
            ChannelOrder[] orders = channels == 3 && images.Channels == 3 ? [ChannelOrder.Rgb, ChannelOrder.Bgr] : [ChannelOrder.Rgb];
            foreach (var order in orders)
                foreach (var (_, preset) in InputPreprocessing.Presets)
                {
                    if (preset.Mean.Count > 1 && preset.Mean.Count != channels) continue; // per-channel statistics of another channel count
                    var candidate = preset with { Layout = layout, Color = color, Order = order };
                    if (!result.Contains(candidate)) result.Add(candidate);
                }
        }
        return result;
    }

    // A candidate that makes batches of another shape than the model's input is a caller's mistake, said plainly
    // rather than left to a tensor-shape failure inside the runtime.
    private static void CheckFits(ModelGraph model, long[] sampleShape, InputPreprocessing candidate)
    {
        if (model.Inputs.Count == 0) return;
        var dims = model.Inputs[0].Dims;
        bool fits = dims.Count == sampleShape.Length + 1
            && sampleShape.Select((d, i) => dims[i + 1].IsSymbolic || dims[i + 1].Value == d).All(ok => ok);
        if (!fits)
            throw Bad($"the candidate preprocessing {candidate.Describe()} makes samples of {string.Join('x', sampleShape)}, the model's input is {model.Inputs[0].ShapeText}");
    }

    private static ImageDataset Sample(ImageDataset data, int samples, int seed)
    {
        if (data.Count <= samples) return data;
        // Folders are stored class by class, so the first images would be one class: draw a seeded random sample.
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(order);
        return data.Subset(order.Take(samples), data.Name + " (preprocessing sample)");
    }

    private static double Accuracy(GraphModule module, DataLoader loader)
    {
        long correct = 0, seen = 0;
        using (no_grad())
        {
            foreach (var batch in loader.Epoch(0))
            {
                using var scope = NewDisposeScope();
                var x = tensor(batch.Images, [batch.Count, .. batch.SampleShape]);
                if (module.Device.type != DeviceType.CPU) x = x.to(module.Device);
                var logits = module.forward(x);
                if (logits.dim() != 2)
                    throw Bad($"the model's output has {logits.dim()} dimensions, not N×classes logits, so its accuracy cannot choose a preprocessing");
                var y = tensor(batch.Labels, [batch.Count]).to(logits.device);
                correct += logits.argmax(1).eq(y).sum().item<long>();
                seen += batch.Count;
            }
        }
        return seen == 0 ? 0 : (double)correct / seen;
    }

    private static string Percent(double fraction) => (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static SecateurException Bad(string message) => new(ErrorCode.BadArgument, message, ParameterNames.Preprocessing);
}
