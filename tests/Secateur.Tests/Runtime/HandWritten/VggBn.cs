using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime.HandWritten;

/// <summary>
/// VGG-11/16 with batch norm in torchvision's <c>features</c> layout (conv3x3 pad 1, BN, ReLU; 'M' = maxpool 2x2),
/// adapted to small inputs as the zoo documents: a max pool is skipped once the map is 1x1, and the head is
/// global average pooling plus one Linear. Convolutions have no bias (torchvision's vgg*_bn keeps one, but the BN
/// right after makes it redundant, and the zoo leaves it out).
/// </summary>
internal sealed class VggBn : HandWrittenModel
{
    private const int M = 0;

    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private readonly Linear classifier;

    public VggBn(int depth, long channels, long height, long width, long classes) : base($"vgg{depth}")
    {
        int[] config = depth switch
        {
            11 => [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
            16 => [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
            _ => throw new ArgumentOutOfRangeException(nameof(depth)),
        };
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        long c = channels, h = height, w = width;
        int conv = 0;
        foreach (var v in config)
        {
            if (v == M)
            {
                if (h < 2 || w < 2) continue;
                layers.Add(($"{layers.Count}", nn.MaxPool2d(2, 2)));
                h /= 2;
                w /= 2;
                continue;
            }
            // torchvision numbers the Sequential's children; the zoo names them conv{k}/bn{k}.
            Alias($"features.{layers.Count}", $"features.conv{conv}");
            layers.Add(($"{layers.Count}", nn.Conv2d(c, v, 3, padding: 1, bias: false)));
            Alias($"features.{layers.Count}", $"features.bn{conv}");
            layers.Add(($"{layers.Count}", HandWrittenModel.BatchNorm(v)));
            layers.Add(($"{layers.Count}", nn.ReLU()));
            c = v;
            conv++;
        }
        features = nn.Sequential(layers.ToArray());
        avgpool = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        classifier = nn.Linear(c, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        classifier.forward(flatten.forward(avgpool.forward(features.forward(x))));   // (N, 512, h, w) -> (N, 512) -> (N, classes)
}
