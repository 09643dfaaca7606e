using System.Reflection;

namespace Secateur.Onnx;

/// <summary>How <see cref="OnnxSerializer"/> writes a model: target operator set and producer stamp.</summary>
public sealed record OnnxSaveOptions
{
    /// <summary>Lowest ai.onnx opset Secateur writes: Clip takes min/max as inputs from opset 11 on.</summary>
    public const int MinOpset = 11;

    /// <summary>
    /// Highest ai.onnx opset Secateur writes (26): the newest one the bundled ONNX Runtime 1.31 runs (its own refusal of
    /// 27 says so) and the newest one Secateur reads back (<c>OnnxImporter</c>), so that every file it saves loads again.
    /// Opsets 22–26 revised none of Secateur's ops in meaning (they add data types), so they write as 21 does.
    /// </summary>
    public const int MaxOpset = 26;

    /// <summary>
    /// The opset an automatic choice starts from (17): a graph whose ops all exist in it is saved in it, as every
    /// file Secateur wrote before it saved newer opsets was.
    /// </summary>
    public const int DefaultOpset = 17;

    /// <summary>
    /// The ai.onnx opset version written into opset_import, or null (the default) to choose the lowest one from
    /// <see cref="DefaultOpset"/> up in which every op of the graph can be written as it is (GroupNormalization with
    /// a scale per channel, say, needs 21) — or the opset of the file the graph came from
    /// (<see cref="Graph.ModelGraph.SourceOpset"/>) when that is newer and Secateur writes it. An explicit opset too old for an op writes the op as an equivalent formula
    /// where one exists (Gelu, Mish, GroupNormalization) and is an error naming the node otherwise.
    /// </summary>
    public int? Opset { get; init; }

    /// <summary>Written as producer_name.</summary>
    public string ProducerName { get; init; } = "Secateur";

    /// <summary>Written as producer_version; defaults to this assembly's version.</summary>
    public string ProducerVersion { get; init; } = DefaultProducerVersion;

    /// <summary>
    /// The assembly's informational version without its "+commit" build metadata, so that the same graph saved
    /// by two builds of the same release gives the same bytes.
    /// </summary>
    public static string DefaultProducerVersion { get; } = StripBuildMetadata(
        typeof(OnnxSaveOptions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OnnxSaveOptions).Assembly.GetName().Version?.ToString() ?? "0.0.0");

    private static string StripBuildMetadata(string version)
    {
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }
}
