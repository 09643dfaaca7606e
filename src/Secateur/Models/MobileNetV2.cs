using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// MobileNetV2 (Sandler et al. 2018): inverted residual blocks of 1x1 expansion, 3x3 depthwise and 1x1 linear
/// projection. The CIFAR-style variant (benchmark protocol) uses a stride-1 stem and a stride-1 first
/// 24-channel row; the ImageNet-style one follows torchvision (dropout 0.2 before the classifier).
/// </summary>
public static class MobileNetV2
{
    /// <summary>Builds MobileNetV2 at width 1.0.</summary>
    public static ModelGraph Build(ZooOptions o, bool cifar)
    {
        ArgumentNullException.ThrowIfNull(o);
        (int T, long C, int N, long S)[] settings =
        [
            (1, 16, 1, 1), (6, 24, 2, cifar ? 1 : 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
        ];
        var b = new GraphBuilder(cifar ? "mobilenetv2" : "mobilenetv2-imagenet", o.Channels, o.Height, o.Width, o.Seed);
        var x = b.Relu6(b.BatchNorm(b.Conv(b.Input, "features.0.conv", 32, 3, cifar ? 1 : 2, 1), "features.0.bn"), "features.0.relu");
        int index = 1;
        foreach (var (t, c, n, s) in settings)
            for (int i = 0; i < n; i++, index++)
                x = InvertedResidual(b, x, $"features.{index}", t, c, i == 0 ? s : 1);
        x = b.Relu6(b.BatchNorm(b.Conv(x, $"features.{index}.conv", 1280, 1), $"features.{index}.bn"), $"features.{index}.relu");
        x = b.Flatten(b.GlobalAvgPool(x, "avgpool"), "flatten");
        if (!cifar) x = b.Dropout(x, 0.2f, "dropout");
        return b.Build(b.Linear(x, "classifier", o.Classes));
    }

    private static string InvertedResidual(GraphBuilder b, string x, string name, int expand, long outChannels, long stride)
    {
        long inChannels = b.Channels(x);
        long hidden = inChannels * expand;
        var y = x;
        if (expand != 1)
            y = b.Relu6(b.BatchNorm(b.Conv(y, $"{name}.expand.conv", hidden, 1), $"{name}.expand.bn"), $"{name}.expand.relu");
        y = b.Relu6(b.BatchNorm(b.Conv(y, $"{name}.dw.conv", hidden, 3, stride, 1, groups: hidden), $"{name}.dw.bn"), $"{name}.dw.relu");
        y = b.BatchNorm(b.Conv(y, $"{name}.project.conv", outChannels, 1), $"{name}.project.bn");
        return stride == 1 && inChannels == outChannels ? b.AddValues(y, x, $"{name}.add") : y;
    }
}
