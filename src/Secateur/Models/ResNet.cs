using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// ImageNet-style ResNet in torchvision's layout: conv7x7/2-BN-ReLU-maxpool3x3/2 stem, four stages (64, 128,
/// 256, 512 base widths), basic blocks for 18/34 and bottlenecks (stride on the 3x3, "v1.5") for 50/101/152.
/// </summary>
public static class ResNet
{
    private static readonly Dictionary<int, (bool Bottleneck, int[] Blocks)> Configs = new()
    {
        [18] = (false, [2, 2, 2, 2]), [34] = (false, [3, 4, 6, 3]),
        [50] = (true, [3, 4, 6, 3]), [101] = (true, [3, 4, 23, 3]), [152] = (true, [3, 8, 36, 3]),
    };

    /// <summary>Builds ResNet-<paramref name="depth"/> (18, 34, 50, 101 or 152).</summary>
    public static ModelGraph Build(ZooOptions o, int depth)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (!Configs.TryGetValue(depth, out var cfg)) throw new SecateurException(ErrorCode.BadArgument, $"ResNet depth {depth} is not one of 18, 34, 50, 101, 152");
        var b = new GraphBuilder($"resnet{depth}", o.Channels, o.Height, o.Width, o.Seed);
        var x = b.Relu(b.BatchNorm(b.Conv(b.Input, "conv1", 64, 7, 2, 3), "bn1"), "relu");
        x = b.MaxPool(x, 3, 2, 1, "maxpool");
        long[] widths = [64, 128, 256, 512];
        for (int stage = 0; stage < 4; stage++)
            for (int i = 0; i < cfg.Blocks[stage]; i++)
            {
                long stride = stage > 0 && i == 0 ? 2 : 1;
                var name = $"layer{stage + 1}.{i}";
                x = cfg.Bottleneck ? Bottleneck(b, x, name, widths[stage], stride) : ResNetCifar.BasicBlock(b, x, name, widths[stage], stride);
            }
        x = b.Flatten(b.GlobalAvgPool(x, "avgpool"), "flatten");
        return b.Build(b.Linear(x, "fc", o.Classes));
    }

    private static string Bottleneck(GraphBuilder b, string x, string name, long width, long stride)
    {
        long outWidth = width * 4;
        var y = b.Relu(b.BatchNorm(b.Conv(x, $"{name}.conv1", width, 1), $"{name}.bn1"), $"{name}.relu1");
        y = b.Relu(b.BatchNorm(b.Conv(y, $"{name}.conv2", width, 3, stride, 1), $"{name}.bn2"), $"{name}.relu2");
        y = b.BatchNorm(b.Conv(y, $"{name}.conv3", outWidth, 1), $"{name}.bn3");
        var shortcut = stride != 1 || b.Channels(x) != outWidth
            ? b.BatchNorm(b.Conv(x, $"{name}.downsample.0", outWidth, 1, stride), $"{name}.downsample.1")
            : x;
        return b.Relu(b.AddValues(y, shortcut, $"{name}.add"), $"{name}.relu3");
    }
}
