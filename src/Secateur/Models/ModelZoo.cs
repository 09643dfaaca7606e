using Secateur.Graph;

namespace Secateur.Models;

/// <summary>Input shape and class count for a zoo model.</summary>
/// <param name="Channels">Input channels.</param>
/// <param name="Height">Input height.</param>
/// <param name="Width">Input width.</param>
/// <param name="Classes">Number of output classes.</param>
/// <param name="Seed">Seed of the deterministic weight initialisation.</param>
public sealed record ZooOptions(long Channels, long Height, long Width, long Classes, int Seed = 0)
{
    /// <summary>
    /// The preprocessing the model is built to be fed (e.g. the preset of the dataset it will be trained on), recorded
    /// in the graph (<see cref="ModelGraph.Preprocessing"/>); null records none.
    /// </summary>
    public InputPreprocessing? Preprocessing { get; init; }

    /// <summary>Checks the values; throws <see cref="SecateurException"/> (BadArgument) when one is out of range.</summary>
    public ZooOptions Validated()
    {
        Preprocessing?.Validated();
        if (Channels < 1 || Height < 1 || Width < 1)
            throw new SecateurException(ErrorCode.BadArgument, $"input shape {Channels}x{Height}x{Width} must have positive dimensions");
        if (Classes < 1) throw new SecateurException(ErrorCode.BadArgument, $"class count {Classes} must be at least 1");
        return this;
    }
}

/// <summary>A model the zoo can build, with the input it is designed for.</summary>
/// <param name="Name">Name as typed on the command line.</param>
/// <param name="Description">One line for listings.</param>
/// <param name="Defaults">Default input shape and classes.</param>
/// <param name="Build">The builder.</param>
public sealed record ZooEntry(string Name, string Description, ZooOptions Defaults, Func<ZooOptions, ModelGraph> Build);

/// <summary>The model zoo: graph builders by name, each parameterised by input shape and class count.</summary>
public static class ModelZoo
{
    private static readonly ZooOptions Small = new(1, 28, 28, 10);
    private static readonly ZooOptions ImageNet = new(3, 224, 224, 1000);

    /// <summary>Every model, in listing order.</summary>
    public static IReadOnlyList<ZooEntry> Entries { get; } =
    [
        new("lenet5", "LeNet-5 (LeCun 1998): 2 conv + 3 linear, ReLU, max pooling", Small, LeNet.Build),
        new("vgg11", "VGG-11 with batch norm, small-input variant (pooling stops at 1x1, GAP + linear head)", Small, o => Vgg.Build(o, 11)),
        new("vgg16", "VGG-16 with batch norm, small-input variant (pooling stops at 1x1, GAP + linear head)", Small, o => Vgg.Build(o, 16)),
        new("resnet20", "ResNet-20, CIFAR-style (He 2016): 3 stages x 3 basic blocks, widths 16/32/64", Small, o => ResNetCifar.Build(o, 20)),
        new("resnet56", "ResNet-56, CIFAR-style: 3 stages x 9 basic blocks, widths 16/32/64", Small, o => ResNetCifar.Build(o, 56)),
        new("resnet18", "ResNet-18, ImageNet-style (torchvision layout)", ImageNet, o => ResNet.Build(o, 18)),
        new("resnet50", "ResNet-50, ImageNet-style bottlenecks (torchvision v1.5 layout)", ImageNet, o => ResNet.Build(o, 50)),
        new("mobilenetv2", "MobileNetV2, CIFAR-style (stride-1 stem and first 24-channel row), as in the benchmark protocol", Small, o => MobileNetV2.Build(o, cifar: true)),
        new("mobilenetv2-imagenet", "MobileNetV2, ImageNet-style (torchvision layout, width 1.0)", ImageNet, o => MobileNetV2.Build(o, cifar: false)),
        new("unet", "U-Net for segmentation: widths 16-128, ConvTranspose and bilinear upsampling, N x classes x H x W output", new(1, 96, 96, 11), UNet.Build),
        new("yolo-tiny", "YOLOv8-style detector backbone + FPN neck: C2f, SPPF, nearest upsampling, heads p3/p4/p5 of classes+5 channels", new(3, 64, 64, 10), YoloTiny.Build),
    ];

    /// <summary>Names of all models.</summary>
    public static IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>The entry called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ZooEntry? Find(string name) => Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Builds model <paramref name="name"/>; options default to the model's own input shape and classes.</summary>
    public static ModelGraph Create(string name, ZooOptions? options = null)
    {
        var entry = Find(name) ?? throw new SecateurException(ErrorCode.BadArgument,
            $"unknown model '{name}'; the zoo has: {string.Join(", ", Names)}");
        var validated = (options ?? entry.Defaults).Validated();
        var graph = entry.Build(validated);
        graph.Metadata["secateur.zoo"] = entry.Name;
        if (validated.Preprocessing is { } preprocessing) graph.Preprocessing = preprocessing;
        return graph;
    }
}
