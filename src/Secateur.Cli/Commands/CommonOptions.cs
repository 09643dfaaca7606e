using System.CommandLine;

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
        Description = "dataset: fashion-mnist (full, found in /usr/share/datasets/fashion-mnist or --data-dir), embedded (the small built-in subset), cifar10:DIR, cifar100:DIR, folder:DIR, or a directory",
        DefaultValueFactory = _ => fallback,
    };

    /// <summary><c>--data-dir DIR</c>.</summary>
    public static Option<string?> DataDir() => new("--data-dir") { Description = "directory holding the dataset files (overrides the default location)" };

    /// <summary><c>--device cpu|cuda</c>.</summary>
    public static Option<string> Device() => new("--device") { Description = "cpu (default) or cuda[:N] when the installed TorchSharp has CUDA", DefaultValueFactory = _ => "cpu" };

    /// <summary><c>--seed N</c>.</summary>
    public static Option<int> Seed() => new("--seed") { Description = "seed for initialisation, shuffling, augmentation and dropout", DefaultValueFactory = _ => 0 };

    /// <summary><c>--batch-size N</c>.</summary>
    public static Option<int> BatchSize(int fallback = 128) => new("--batch-size") { Description = "mini-batch size", DefaultValueFactory = _ => fallback };

    /// <summary><c>--opset N</c> for verbs that save a model.</summary>
    public static Option<int> Opset() => new("--opset")
    {
        Description = $"ONNX operator set of the saved model ({Secateur.Onnx.OnnxSaveOptions.MinOpset}-{Secateur.Onnx.OnnxSaveOptions.MaxOpset}; ops newer than it are an error naming the node)",
        DefaultValueFactory = _ => Secateur.Onnx.OnnxSaveOptions.MaxOpset,
    };

    /// <summary>Saves <paramref name="graph"/> at the opset the user chose.</summary>
    public static void Save(Secateur.Graph.ModelGraph graph, string path, int opset) =>
        Secateur.Onnx.OnnxSerializer.Save(graph, path, new Secateur.Onnx.OnnxSaveOptions { Opset = opset });

    /// <summary><c>--threads N</c>.</summary>
    public static Option<int?> Threads() => new("--threads") { Description = "CPU threads for libtorch (default: all cores)" };
}
