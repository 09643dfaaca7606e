using System.Globalization;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;

namespace Secateur.Cli;

/// <summary>Turns a model argument (a zoo name or an .onnx file) and shape options into a graph.</summary>
public static class ModelSource
{
    /// <summary>Loads <paramref name="spec"/>: an .sct file as a compressed model, another existing file as ONNX, otherwise it names a zoo model.</summary>
    public static ModelGraph Load(string spec, string? input, long? classes, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(spec);
        if (spec.EndsWith(".sct", StringComparison.OrdinalIgnoreCase))
        {
            // A compressed model (secateur compress) works wherever an ONNX file does.
            return Secateur.Compression.SparseArchive.Load(spec);
        }
        if (File.Exists(spec) || spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(spec)) throw new SecateurException(ErrorCode.BadFile, $"model file '{spec}' does not exist");
            return OnnxSerializer.Load(spec);
        }
        var entry = ModelZoo.Find(spec) ?? throw new SecateurException(ErrorCode.BadArgument,
            $"'{spec}' is neither a file nor a zoo model; the zoo has: {string.Join(", ", ModelZoo.Names)}");
        var d = entry.Defaults;
        var shape = input is null ? [d.Channels, d.Height, d.Width] : ParseShape(input);
        return ModelZoo.Create(entry.Name, new ZooOptions(shape[0], shape[1], shape[2], classes ?? d.Classes, seed));
    }

    /// <summary>Parses <c>CxHxW</c> (e.g. <c>1x28x28</c>); also accepts <c>HxW</c> as one channel.</summary>
    public static long[] ParseShape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('x', 'X', ',');
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] < 1)
                throw new SecateurException(ErrorCode.BadArgument, $"bad shape '{text}': expected positive sizes like 1x28x28 (channels x height x width)");
        return dims.Length switch
        {
            3 => dims,
            2 => [1, dims[0], dims[1]],
            _ => throw new SecateurException(ErrorCode.BadArgument, $"bad shape '{text}': expected CxHxW, e.g. 3x32x32"),
        };
    }

    /// <summary>
    /// The default name of a verb's result: beside the input file without its extension, or after the zoo name, plus
    /// <paramref name="suffix"/> (e.g. <c>resnet20.onnx</c> → <c>resnet20.pruned.onnx</c>, <c>lenet5</c> → <c>lenet5.int8.onnx</c>).
    /// </summary>
    public static string DefaultOutput(string spec, string suffix) =>
        (File.Exists(spec) || spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? Path.ChangeExtension(spec, null) : spec) + suffix;

    /// <summary>Size of the input model as the user has it: its file, or for a zoo name the graph serialised to ONNX.</summary>
    public static long InputBytes(string spec, ModelGraph graph) =>
        File.Exists(spec) ? new FileInfo(spec).Length : Secateur.Onnx.OnnxSerializer.ToBytes(graph).Length;
}
