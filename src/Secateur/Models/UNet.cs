using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// A small U-Net (Ronneberger et al. 2015) for segmentation, with the module names of the widely used PyTorch
/// implementation (<c>inc</c>, <c>down1..3</c>, <c>up1..3</c>, <c>outc</c>): three poolings, widths 16/32/64/128,
/// output N×classes×H×W. The two deeper decoder stages upsample with a 2×2 stride-2 ConvTranspose, the last
/// with bilinear Resize, so one model exercises both ways dense-prediction nets upsample.
/// </summary>
public static class UNet
{
    private const long Width = 16;
    private const int Depth = 3;

    /// <summary>Builds the U-Net; height and width must be divisible by 8 so every skip matches its upsampled map.</summary>
    public static ModelGraph Build(ZooOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        long factor = 1L << Depth;
        if (o.Height % factor != 0 || o.Width % factor != 0)
            throw new SecateurException(ErrorCode.BadArgument, $"unet needs height and width divisible by {factor} (it pools {Depth} times); got {o.Height}x{o.Width}");
        var b = new GraphBuilder("unet", o.Channels, o.Height, o.Width, o.Seed);
        var skips = new List<string> { DoubleConv(b, b.Input, "inc", Width) };
        for (int i = 1; i <= Depth; i++)
        {
            var pooled = b.MaxPool(skips[^1], 2, 2, name: $"down{i}.maxpool_conv.0");
            skips.Add(DoubleConv(b, pooled, $"down{i}.maxpool_conv.1", Width << i));
        }
        var x = skips[^1];
        for (int i = 1; i <= Depth; i++)
        {
            var skip = skips[Depth - i];
            long outChannels = b.Channels(skip);
            // The last stage upsamples bilinearly and lets its convolutions mix the channels, as the bilinear variant does.
            var up = i < Depth ? b.ConvTranspose(x, $"up{i}.up", b.Channels(x) / 2, 2, 2) : b.Upsample(x, 2, linear: true, $"up{i}.up");
            x = DoubleConv(b, b.Concat([skip, up], $"up{i}.cat"), $"up{i}.conv", outChannels);
        }
        return b.Build(b.Conv(x, "outc.conv", o.Classes, 1, bias: true), "logits");
    }

    private static string DoubleConv(GraphBuilder b, string x, string name, long channels)
    {
        x = b.Relu(b.BatchNorm(b.Conv(x, $"{name}.double_conv.0", channels, 3, pad: 1), $"{name}.double_conv.1"), $"{name}.double_conv.2");
        return b.Relu(b.BatchNorm(b.Conv(x, $"{name}.double_conv.3", channels, 3, pad: 1), $"{name}.double_conv.4"), $"{name}.double_conv.5");
    }
}
