using System.Reflection;

namespace Secateur.Onnx;

/// <summary>How <see cref="OnnxSerializer"/> writes a model: target operator set and producer stamp.</summary>
public sealed record OnnxSaveOptions
{
    /// <summary>Lowest ai.onnx opset Secateur writes: Clip takes min/max as inputs from opset 11 on.</summary>
    public const int MinOpset = 11;

    /// <summary>Highest ai.onnx opset Secateur writes: the newest one the bundled ONNX 1.12 schema defines.</summary>
    public const int MaxOpset = 17;

    /// <summary>The default ai.onnx opset version written into opset_import (17).</summary>
    public int Opset { get; init; } = 17;

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
