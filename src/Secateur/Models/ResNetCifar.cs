using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// CIFAR-style ResNet (He et al. 2016) as defined in the benchmark protocol: conv3x3(16)-BN-ReLU stem, three
/// stages of (depth-2)/6 basic blocks with widths 16/32/64, stride 2 and a 1x1 conv + BN projection shortcut
/// on the first block of stages 2 and 3, global average pooling and a linear classifier.
/// </summary>
public static class ResNetCifar
{
    /// <summary>Builds ResNet-<paramref name="depth"/>; depth must be 6n+2 (20, 32, 44, 56, 110).</summary>
    public static ModelGraph Build(ZooOptions o, int depth)
    {
        ArgumentNullException.ThrowIfNull(o);
        if ((depth - 2) % 6 != 0) throw new SecateurException(ErrorCode.BadArgument, $"CIFAR ResNet depth {depth} is not 6n+2");
        int n = (depth - 2) / 6;
        var b = new GraphBuilder($"resnet{depth}", o.Channels, o.Height, o.Width, o.Seed);
        var x = b.Relu(b.BatchNorm(b.Conv(b.Input, "conv1", 16, 3, pad: 1), "bn1"), "relu");
        long[] widths = [16, 32, 64];
        for (int stage = 0; stage < 3; stage++)
            for (int i = 0; i < n; i++)
                x = BasicBlock(b, x, $"layer{stage + 1}.{i}", widths[stage], stage > 0 && i == 0 ? 2 : 1);
        x = b.Flatten(b.GlobalAvgPool(x, "avgpool"), "flatten");
        return b.Build(b.Linear(x, "fc", o.Classes));
    }

    /// <summary>conv3x3-BN-ReLU-conv3x3-BN, plus the identity or a 1x1 projection, then ReLU.</summary>
    internal static string BasicBlock(GraphBuilder b, string x, string name, long width, long stride)
    {
        var y = b.Relu(b.BatchNorm(b.Conv(x, $"{name}.conv1", width, 3, stride, 1), $"{name}.bn1"), $"{name}.relu1");
        y = b.BatchNorm(b.Conv(y, $"{name}.conv2", width, 3, 1, 1), $"{name}.bn2");
        var shortcut = stride != 1 || b.Channels(x) != width
            ? b.BatchNorm(b.Conv(x, $"{name}.downsample.0", width, 1, stride), $"{name}.downsample.1")
            : x;
        return b.Relu(b.AddValues(y, shortcut, $"{name}.add"), $"{name}.relu2");
    }
}
