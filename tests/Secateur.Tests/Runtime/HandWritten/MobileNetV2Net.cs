using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime.HandWritten;

/// <summary>
/// MobileNetV2 (Sandler et al. 2018) at width 1.0 in torchvision's layout: <c>features.0</c> is the stem
/// Conv-BN-ReLU6, <c>features.1..17</c> the inverted residuals, <c>features.18</c> the 1x1 conv to 1280-BN-ReLU6;
/// then GAP and the classifier. The CIFAR-style variant (benchmark protocol) has a stride-1 stem, stride 1 on
/// the first 24-channel row, and no dropout; the ImageNet-style one has torchvision's Dropout(0.2) + Linear.
/// </summary>
internal sealed class MobileNetV2Net : HandWrittenModel
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public MobileNetV2Net(bool cifar, long channels, long classes) : base(cifar ? "mobilenetv2" : "mobilenetv2-imagenet")
    {
        // (expansion t, output channels c, repeats n, first stride s)
        (int T, long C, int N, long S)[] settings =
        [
            (1, 16, 1, 1), (6, 24, 2, cifar ? 1 : 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
        ];
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        AliasConvBn("features.0", "features.0");
        layers.Add(("0", ConvBnReLU6(channels, 32, 3, cifar ? 1 : 2)));
        long inChannels = 32;
        foreach (var (t, c, n, s) in settings)
            for (int i = 0; i < n; i++)
            {
                var name = $"features.{layers.Count}";
                var block = new InvertedResidual(inChannels, c, i == 0 ? s : 1, t);
                // torchvision numbers the block's layers; the zoo names them expand/dw/project.
                int k = 0;
                if (t != 1) AliasConvBn($"{name}.conv.{k++}", $"{name}.expand");
                AliasConvBn($"{name}.conv.{k++}", $"{name}.dw");
                Alias($"{name}.conv.{k++}", $"{name}.project.conv");
                Alias($"{name}.conv.{k}", $"{name}.project.bn");
                layers.Add(($"{layers.Count}", block));
                inChannels = c;
            }
        AliasConvBn($"features.{layers.Count}", $"features.{layers.Count}");
        layers.Add(($"{layers.Count}", ConvBnReLU6(inChannels, 1280, 1, 1)));
        features = nn.Sequential(layers.ToArray());
        avgpool = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        if (cifar)
        {
            classifier = nn.Linear(1280, classes);
        }
        else
        {
            Alias("classifier.1", "classifier");
            classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes));
        }
        RegisterComponents();
    }

    private void AliasConvBn(string module, string graph)
    {
        Alias($"{module}.0", $"{graph}.conv");
        Alias($"{module}.1", $"{graph}.bn");
    }

    /// <summary>torchvision's Conv2dNormActivation: conv (no bias, 'same' padding)-BN-ReLU6.</summary>
    internal static Sequential ConvBnReLU6(long inChannels, long outChannels, long kernel, long stride, long groups = 1) =>
        nn.Sequential(
            nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
            HandWrittenModel.BatchNorm(outChannels),
            nn.ReLU6());

    public override Tensor forward(Tensor x) =>
        classifier.forward(flatten.forward(avgpool.forward(features.forward(x))));   // (N, 1280, h, w) -> (N, 1280) -> (N, classes)
}

/// <summary>
/// Inverted residual: 1x1 expand to t·in-BN-ReLU6 (omitted when t = 1), 3x3 depthwise(stride)-BN-ReLU6,
/// 1x1 linear projection-BN; adds the input when stride is 1 and channels are unchanged.
/// </summary>
internal sealed class InvertedResidual : nn.Module<Tensor, Tensor>
{
    private readonly Sequential conv;
    private readonly bool residual;

    public InvertedResidual(long inChannels, long outChannels, long stride, int expansion) : base(nameof(InvertedResidual))
    {
        long hidden = inChannels * expansion;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (expansion != 1) layers.Add(MobileNetV2Net.ConvBnReLU6(inChannels, hidden, 1, 1));
        layers.Add(MobileNetV2Net.ConvBnReLU6(hidden, hidden, 3, stride, groups: hidden));
        layers.Add(nn.Conv2d(hidden, outChannels, 1, bias: false));
        layers.Add(HandWrittenModel.BatchNorm(outChannels));
        conv = nn.Sequential(layers.ToArray());
        residual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => residual ? x + conv.forward(x) : conv.forward(x);
}
