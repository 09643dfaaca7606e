using Secateur.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime.HandWritten;

/// <summary>
/// A model written by hand with TorchSharp's own nn modules, to check the zoo graphs (as executed by
/// <see cref="GraphModule"/>) against. Submodules keep PyTorch/torchvision's state names; <see cref="GraphName"/>
/// translates those into the zoo's initializer names, so the weight copy is an explicit, checkable mapping.
/// </summary>
internal abstract class HandWrittenModel : nn.Module<Tensor, Tensor>
{
    /// <summary>
    /// PyTorch's BN epsilon 1e-5 as the float32 that ONNX's <c>epsilon</c> attribute (and so the graph) holds.
    /// libtorch adds epsilon in double, so 1e-5 and (double)1e-5f differ in the last float bit of 1/sqrt(var + eps);
    /// where a BN layer sees a 1x1 map with batch 2 (VGG-16 at 28x28 in training mode) the variance of two
    /// nearly equal values can be far below epsilon, and later layers amplify that bit to ~1e-5. The float
    /// value keeps the comparison exact instead of near the tolerance; a wrong epsilon still shows in eval mode.
    /// </summary>
    public const double Epsilon = 1e-5;

    /// <summary>PyTorch's momentum (weight of the new batch statistic); ONNX's 0.9 is the weight of the old one.</summary>
    public const double Momentum = 0.1;

    private readonly Dictionary<string, string> _aliases = new(StringComparer.Ordinal);

    // nn.Module's constructor already calls into libtorch, so the native library must be loaded first.
    protected HandWrittenModel(string name) : base(Prepare(name))
    {
    }

    private static string Prepare(string name)
    {
        NativeLibraries.EnsureTorch();
        return name;
    }

    /// <summary>nn.BatchNorm2d with the zoo's epsilon and momentum.</summary>
    public static BatchNorm2d BatchNorm(long features) => nn.BatchNorm2d(features, eps: Epsilon, momentum: Momentum);

    /// <summary>Declares that the submodule at <paramref name="modulePath"/> is layer <paramref name="graphPath"/> in the zoo graph.</summary>
    protected void Alias(string modulePath, string graphPath) => _aliases.Add(modulePath, graphPath);

    /// <summary>
    /// The graph initializer a state entry (e.g. <c>features.1.conv.0.0.weight</c>) corresponds to. Submodules
    /// without an alias already carry the graph's layer name (the zoo follows PyTorch naming where it can).
    /// </summary>
    public string GraphName(string stateName)
    {
        int dot = stateName.LastIndexOf('.');
        var module = stateName[..dot];
        return (_aliases.TryGetValue(module, out var graph) ? graph : module) + stateName[dot..];
    }
}
