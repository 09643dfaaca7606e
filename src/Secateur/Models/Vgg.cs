using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// VGG with batch norm (Simonyan and Zisserman 2014), adapted to small inputs: a max pool is skipped once the
/// feature map is 1x1, and the head is global average pooling plus one linear layer (as in common CIFAR variants).
/// Convolutions have no bias (torchvision's vgg*_bn keeps one, which the following batch norm makes redundant).
/// </summary>
public static class Vgg
{
    private static readonly Dictionary<int, int[]> Configs = new()
    {
        // 0 marks a max pool.
        [11] = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        [16] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    };

    /// <summary>Builds VGG-<paramref name="depth"/> (11 or 16) with batch norm.</summary>
    public static ModelGraph Build(ZooOptions o, int depth)
    {
        ArgumentNullException.ThrowIfNull(o);
        var b = new GraphBuilder($"vgg{depth}", o.Channels, o.Height, o.Width, o.Seed);
        var x = b.Input;
        int conv = 0, pool = 0;
        foreach (var v in Configs[depth])
        {
            if (v == 0)
            {
                var s = b.Shape(x);
                if (s[2] >= 2 && s[3] >= 2) x = b.MaxPool(x, 2, 2, name: $"features.pool{pool++}");
                continue;
            }
            x = b.Conv(x, $"features.conv{conv}", v, 3, pad: 1);
            x = b.BatchNorm(x, $"features.bn{conv}");
            x = b.Relu(x, $"features.relu{conv}");
            conv++;
        }
        x = b.Flatten(b.GlobalAvgPool(x, "avgpool"), "flatten");
        return b.Build(b.Linear(x, "classifier", o.Classes));
    }
}
