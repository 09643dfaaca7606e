using System.CommandLine;
using System.Globalization;

namespace Secateur.Cli.Commands;

/// <summary>Options shared by several verbs, defined once so they read the same everywhere.</summary>
public static class CommonOptions
{
    /// <summary><c>--input CxHxW</c>.</summary>
    public static Option<string?> Input() => new("--input") { Description = "input shape CxHxW for zoo models, e.g. 1x28x28 (default: the model's own)" };

    /// <summary><c>--classes N</c>.</summary>
    public static Option<long?> Classes() => new("--classes") { Description = "number of classes for zoo models (default: the model's own, or the data's)" };

    /// <summary><c>--json</c>.</summary>
    public static Option<bool> Json() => new("--json") { Description = "print one JSON object on stdout instead of tables" };

    /// <summary><c>--data SPEC</c>.</summary>
    public static Option<string> Data(string fallback = "fashion-mnist") => new("--data")
    {
        Description = "dataset: fashion-mnist (full, found in /usr/share/datasets/fashion-mnist or --data-dir), embedded (the small built-in subset), cifar10:DIR, cifar100:DIR, folder:DIR, segfolder:DIR (segmentation: images/ and masks/, optionally in train/ and test/), or a directory",
        DefaultValueFactory = _ => fallback,
    };

    /// <summary><c>--task classification|segmentation</c>.</summary>
    public static Option<string?> Task() => new Option<string?>("--task")
    {
        Description = "classification (labels, top-1 accuracy) or segmentation (masks, output NxKxHxW, mIoU and pixel accuracy; needs --data segfolder:DIR); default: the data's",
    }.AcceptOnlyFromAmong("classification", "segmentation");

    /// <summary><c>--ignore-index N</c>.</summary>
    public static Option<int> IgnoreIndex() => new("--ignore-index")
    {
        Description = "segmentation: mask value that counts for no class (no loss, no metric)",
        DefaultValueFactory = _ => Secateur.Data.ImageDataset.DefaultIgnoreIndex,
    };

    /// <summary>The <c>--task</c> value as the library's kind (null: the data's own).</summary>
    public static Secateur.Data.TaskKind? TaskKind(ParseResult r, Option<string?> task) => r.GetValue(task) switch
    {
        "classification" => Secateur.Data.TaskKind.Classification,
        "segmentation" => Secateur.Data.TaskKind.Segmentation,
        _ => null,
    };

    /// <summary><c>--data-dir DIR</c>.</summary>
    public static Option<string?> DataDir() => new("--data-dir") { Description = "directory holding the dataset files (overrides the default location)" };

    /// <summary><c>--device cpu|cuda</c>.</summary>
    public static Option<string> Device() => new("--device") { Description = "cpu (default) or cuda[:N] when the installed TorchSharp has CUDA", DefaultValueFactory = _ => "cpu" };

    /// <summary><c>--seed N</c>.</summary>
    public static Option<int> Seed() => new("--seed") { Description = "seed for initialisation, shuffling, augmentation and dropout", DefaultValueFactory = _ => 0 };

    /// <summary><c>--batch-size N</c>.</summary>
    public static Option<int> BatchSize(int fallback = 128) => new("--batch-size") { Description = "mini-batch size", DefaultValueFactory = _ => fallback };

    /// <summary><c>--opset N</c> for verbs that save a model; absent, the library chooses.</summary>
    public static Option<int?> Opset() => new("--opset")
    {
        Description = $"ONNX operator set of the saved model ({Secateur.Onnx.OnnxSaveOptions.MinOpset}-{Secateur.Onnx.OnnxSaveOptions.MaxOpset}; default: the lowest from {Secateur.Onnx.OnnxSaveOptions.DefaultOpset} that has every op of the model; an older one writes Gelu, Mish and GroupNormalization as their formulas, other ops newer than it are an error naming the node)",
    };

    /// <summary>Saves <paramref name="graph"/> at the opset the user chose (null: the library's choice).</summary>
    public static void Save(Secateur.Graph.ModelGraph graph, string path, int? opset) =>
        Secateur.Onnx.OnnxSerializer.Save(graph, path, new Secateur.Onnx.OnnxSaveOptions { Opset = opset });

    /// <summary>
    /// Refuses to write <paramref name="output"/> over one of the command's own inputs: a run must never destroy the
    /// file it reads (and a failed write would leave neither).
    /// </summary>
    public static string NotAnInput(string output, params string?[] inputs)
    {
        ArgumentNullException.ThrowIfNull(output);
        var full = Path.GetFullPath(output);
        foreach (var input in inputs)
            if (input is not null && File.Exists(input) && string.Equals(Path.GetFullPath(input), full, StringComparison.Ordinal))
                throw new SecateurException(ErrorCode.BadArgument, $"'{output}' is this command's input; refusing to write over it: choose another output (-o)");
        return output;
    }

    /// <summary><c>--precision fp32|bf16</c> of the training verbs (train, and fine-tuning in prune and sparsify).</summary>
    public static Option<string> Precision() => new Option<string>("--precision")
    {
        Description = "training arithmetic: fp32 (default) or bf16 (bfloat16 convolutions and matrix products, float32 weights and batch norm; needs a CPU with AVX-512 BF16 or AMX, or CUDA)",
        DefaultValueFactory = _ => "fp32",
    }.AcceptOnlyFromAmong("fp32", "bf16");

    /// <summary>The library precision of a <c>--precision</c> value.</summary>
    public static Secateur.Runtime.Precision PrecisionOf(ParseResult r, Option<string> precision) =>
        r.GetValue(precision) == "bf16" ? Secateur.Runtime.Precision.BFloat16 : Secateur.Runtime.Precision.Float32;

    /// <summary><c>--threads N</c>: one meaning in every verb (see <see cref="ThreadCount"/>).</summary>
    public static Option<int?> Threads() => new("--threads") { Description = "CPU threads (N >= 1) for libtorch and ONNX Runtime in this process (default: all cores)" };

    /// <summary>The validated <c>--threads</c> value: null (all cores) or at least 1.</summary>
    public static int? ThreadCount(ParseResult r, Option<int?> threads)
    {
        var n = r.GetValue(threads);
        if (n is < 1) throw new SecateurException(ErrorCode.BadArgument, $"--threads must be at least 1 (got {n})");
        return n;
    }

    /// <summary>Sets libtorch's (process-wide) thread count when <c>--threads</c> was given; ORT sessions take <see cref="Sessions"/>.</summary>
    public static void ApplyTorchThreads(int? threads)
    {
        if (threads is not { } n) return;
        Secateur.Runtime.NativeLibraries.EnsureTorch(); // before the first torch call: it may need the libstdc++ fix
        TorchSharp.torch.set_num_threads(n);
    }

    /// <summary>ONNX Runtime session settings for a <c>--threads</c> value (null: one thread per core).</summary>
    public static Secateur.Deployment.SessionSettings Sessions(int? threads) => new(threads ?? 0);

    /// <summary>
    /// The command as the user gave it, from the parser's tokens (under <c>secateur run</c>, the step's own command),
    /// for reports to quote.
    /// </summary>
    public static string CommandLine(ParseResult r) =>
        "secateur " + string.Join(' ', r.Tokens.Select(t => t.Value.Any(char.IsWhiteSpace) ? $"'{t.Value}'" : t.Value));

    /// <summary>Parses a comma-separated list of positive integers such as <c>1,64</c>.</summary>
    public static IReadOnlyList<int> ParseList(string text, string option)
    {
        var values = new List<int>();
        foreach (var p in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 1) values.Add(v);
            else throw new SecateurException(ErrorCode.BadArgument, $"bad {option} '{text}': expected positive integers like 1,64");
        if (values.Count == 0) throw new SecateurException(ErrorCode.BadArgument, $"bad {option} '{text}': expected positive integers like 1,64");
        return values;
    }

    /// <summary>Parses a comma-separated list of fractions such as <c>0.25,0.5</c> (their range is the library's to check).</summary>
    public static IReadOnlyList<double> ParseRatios(string text, string option) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t =>
            double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new SecateurException(ErrorCode.BadArgument, $"bad ratio '{t}' in {option}")).ToList();

    /// <summary>The <c>--exclude</c> values, each possibly a comma-separated list.</summary>
    public static IReadOnlyList<string> Exclude(ParseResult r, Option<string[]> exclude) =>
        (r.GetValue(exclude) ?? []).SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList();
}
