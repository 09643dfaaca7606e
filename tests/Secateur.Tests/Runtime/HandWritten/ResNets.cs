using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime.HandWritten;

/// <summary>
/// ResNet basic block (He et al. 2016, torchvision's BasicBlock): conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the
/// identity or a 1x1 conv(stride) + BN projection when the shape changes, then ReLU.
/// </summary>
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;
    private readonly ReLU relu;

    public BasicBlock(long inChannels, long width, long stride) : base(nameof(BasicBlock))
    {
        conv1 = nn.Conv2d(inChannels, width, 3, stride: stride, padding: 1, bias: false);
        bn1 = HandWrittenModel.BatchNorm(width);
        conv2 = nn.Conv2d(width, width, 3, padding: 1, bias: false);
        bn2 = HandWrittenModel.BatchNorm(width);
        if (stride != 1 || inChannels != width)
            downsample = nn.Sequential(nn.Conv2d(inChannels, width, 1, stride: stride, bias: false), HandWrittenModel.BatchNorm(width));
        relu = nn.ReLU();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = relu.forward(bn1.forward(conv1.forward(x)));
        y = bn2.forward(conv2.forward(y));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return relu.forward(y + shortcut);
    }
}

/// <summary>
/// ResNet bottleneck in torchvision's "v1.5" form (stride on the 3x3): conv1x1-BN-ReLU, conv3x3(stride)-BN-ReLU,
/// conv1x1 to 4x width-BN, plus identity or 1x1 conv(stride) + BN projection, then ReLU.
/// </summary>
internal sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly Sequential? downsample;
    private readonly ReLU relu;

    public const long Expansion = 4;

    public Bottleneck(long inChannels, long width, long stride) : base(nameof(Bottleneck))
    {
        long outChannels = width * Expansion;
        conv1 = nn.Conv2d(inChannels, width, 1, bias: false);
        bn1 = HandWrittenModel.BatchNorm(width);
        conv2 = nn.Conv2d(width, width, 3, stride: stride, padding: 1, bias: false);
        bn2 = HandWrittenModel.BatchNorm(width);
        conv3 = nn.Conv2d(width, outChannels, 1, bias: false);
        bn3 = HandWrittenModel.BatchNorm(outChannels);
        if (stride != 1 || inChannels != outChannels)
            downsample = nn.Sequential(nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), HandWrittenModel.BatchNorm(outChannels));
        relu = nn.ReLU();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = relu.forward(bn1.forward(conv1.forward(x)));
        y = relu.forward(bn2.forward(conv2.forward(y)));
        y = bn3.forward(conv3.forward(y));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return relu.forward(y + shortcut);
    }
}

/// <summary>
/// CIFAR-style ResNet-(6n+2) per the benchmark protocol: conv3x3(16, stride 1, no bias)-BN-ReLU, three stages
/// of n basic blocks (widths 16/32/64, stride 2 on the first block of stages 2 and 3), GAP, Linear.
/// </summary>
internal sealed class CifarResNet : HandWrittenModel
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private readonly Linear fc;

    public CifarResNet(int depth, long channels, long classes) : base($"resnet{depth}")
    {
        int n = (depth - 2) / 6;
        conv1 = nn.Conv2d(channels, 16, 3, padding: 1, bias: false);
        bn1 = HandWrittenModel.BatchNorm(16);
        relu = nn.ReLU();
        layer1 = Stage(16, 16, n, 1);
        layer2 = Stage(16, 32, n, 2);
        layer3 = Stage(32, 64, n, 2);
        avgpool = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        fc = nn.Linear(64, classes);
        RegisterComponents();
    }

    private static Sequential Stage(long inChannels, long width, int blocks, long stride) =>
        nn.Sequential(Enumerable.Range(0, blocks)
            .Select(i => (nn.Module<Tensor, Tensor>)new BasicBlock(i == 0 ? inChannels : width, width, i == 0 ? stride : 1)).ToArray());

    public override Tensor forward(Tensor x)
    {
        x = relu.forward(bn1.forward(conv1.forward(x)));               // (N, 16, H, W)
        x = layer3.forward(layer2.forward(layer1.forward(x)));         // (N, 64, H/4, W/4)
        return fc.forward(flatten.forward(avgpool.forward(x)));
    }
}

/// <summary>
/// ImageNet-style ResNet as in torchvision: conv7x7/2(64, no bias)-BN-ReLU-maxpool3x3/2, four stages of basic
/// blocks (18) or bottlenecks (50) with base widths 64/128/256/512 (stride 2 from stage 2 on), GAP, Linear.
/// </summary>
internal sealed class TorchvisionResNet : HandWrittenModel
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private readonly Linear fc;

    public TorchvisionResNet(int depth, long channels, long classes) : base($"resnet{depth}")
    {
        (bool bottleneck, int[] blocks) = depth switch
        {
            18 => (false, new[] { 2, 2, 2, 2 }),
            50 => (true, new[] { 3, 4, 6, 3 }),
            _ => throw new ArgumentOutOfRangeException(nameof(depth)),
        };
        conv1 = nn.Conv2d(channels, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = HandWrittenModel.BatchNorm(64);
        relu = nn.ReLU();
        maxpool = nn.MaxPool2d(3, 2, 1);
        long inChannels = 64;
        Sequential Stage(long width, int count, long stride)
        {
            var list = new List<nn.Module<Tensor, Tensor>>();
            for (int i = 0; i < count; i++)
            {
                long s = i == 0 ? stride : 1;
                list.Add(bottleneck ? new Bottleneck(inChannels, width, s) : new BasicBlock(inChannels, width, s));
                inChannels = bottleneck ? width * Bottleneck.Expansion : width;
            }
            return nn.Sequential(list.ToArray());
        }
        layer1 = Stage(64, blocks[0], 1);
        layer2 = Stage(128, blocks[1], 2);
        layer3 = Stage(256, blocks[2], 2);
        layer4 = Stage(512, blocks[3], 2);
        avgpool = nn.AdaptiveAvgPool2d(1);
        flatten = nn.Flatten();
        fc = nn.Linear(inChannels, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = maxpool.forward(relu.forward(bn1.forward(conv1.forward(x))));                  // (N, 64, H/4, W/4)
        x = layer4.forward(layer3.forward(layer2.forward(layer1.forward(x))));             // (N, 512·e, H/32, W/32)
        return fc.forward(flatten.forward(avgpool.forward(x)));
    }
}
