using Secateur.Graph;

namespace Secateur.Models;

/// <summary>
/// A small YOLOv8-style detector backbone and neck with Ultralytics' module names (<c>model.N.cv1</c>, <c>.m.0</c>):
/// conv-BN-SiLU blocks, C2f blocks that split channels in two (Slice, as <c>chunk</c> exports) and concatenate
/// every bottleneck's output, SPPF (three chained 5×5 max pools, concatenated), a nearest-upsampling FPN neck, and
/// one raw head per scale as separate graph outputs <c>p3</c>, <c>p4</c>, <c>p5</c> (strides 8, 16, 32), each
/// N×(classes+5)×h×w: box (4), objectness (1) and class scores per cell. No decoding or NMS: those are not part
/// of what is pruned or trained here.
/// </summary>
public static class YoloTiny
{
    /// <summary>Builds the detector; height and width must be divisible by 32, the stride of <c>p5</c>.</summary>
    public static ModelGraph Build(ZooOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Height % 32 != 0 || o.Width % 32 != 0)
            throw new SecateurException(ErrorCode.BadArgument, $"yolo-tiny needs height and width divisible by 32 (its coarsest head has stride 32); got {o.Height}x{o.Width}");
        var b = new GraphBuilder("yolo-tiny", o.Channels, o.Height, o.Width, o.Seed);
        var x = ConvBlock(b, b.Input, "model.0", 16, 3, 2);
        x = ConvBlock(b, x, "model.1", 32, 3, 2);
        x = C2f(b, x, "model.2", 32, shortcut: true);
        x = ConvBlock(b, x, "model.3", 64, 3, 2);
        var p3 = C2f(b, x, "model.4", 64, shortcut: true);
        x = ConvBlock(b, p3, "model.5", 128, 3, 2);
        var p4 = C2f(b, x, "model.6", 128, shortcut: true);
        x = ConvBlock(b, p4, "model.7", 128, 3, 2);
        x = C2f(b, x, "model.8", 128, shortcut: true);
        var p5 = Sppf(b, x, "model.9", 128);
        // Top-down FPN: each finer scale sees the coarser one, upsampled, beside its own backbone features.
        var n4 = C2f(b, b.Concat([b.Upsample(p5, 2, linear: false, "model.10"), p4], "model.11"), "model.12", 64, shortcut: false);
        var n3 = C2f(b, b.Concat([b.Upsample(n4, 2, linear: false, "model.13"), p3], "model.14"), "model.15", 32, shortcut: false);
        var outputs = new[] { ("p3", n3), ("p4", n4), ("p5", p5) }
            .Select((s, i) => Head(b, s.Item2, $"model.16.{i}", o.Classes + 5, s.Item1)).ToList();
        return b.Build(outputs);
    }

    private static string ConvBlock(GraphBuilder b, string x, string name, long channels, long kernel, long stride = 1) =>
        b.Silu(b.BatchNorm(b.Conv(x, $"{name}.conv", channels, kernel, stride, kernel / 2), $"{name}.bn"), $"{name}.act");

    private static string C2f(GraphBuilder b, string x, string name, long outChannels, bool shortcut)
    {
        long hidden = outChannels / 2;
        var y = ConvBlock(b, x, $"{name}.cv1", 2 * hidden, 1);
        var parts = new List<string> { b.SliceChannels(y, 0, hidden, $"{name}.chunk.0"), b.SliceChannels(y, hidden, 2 * hidden, $"{name}.chunk.1") };
        // One bottleneck (n = 1): the small model keeps every structural feature, not the depth.
        var m = ConvBlock(b, ConvBlock(b, parts[^1], $"{name}.m.0.cv1", hidden, 3), $"{name}.m.0.cv2", hidden, 3);
        parts.Add(shortcut ? b.AddValues(parts[^1], m, $"{name}.m.0.add") : m);
        return ConvBlock(b, b.Concat(parts, $"{name}.cat"), $"{name}.cv2", outChannels, 1);
    }

    private static string Sppf(GraphBuilder b, string x, string name, long outChannels)
    {
        var y = ConvBlock(b, x, $"{name}.cv1", b.Channels(x) / 2, 1);
        var parts = new List<string> { y };
        for (int i = 0; i < 3; i++) parts.Add(b.MaxPool(parts[^1], 5, 1, 2, $"{name}.m.{i}"));
        return ConvBlock(b, b.Concat(parts, $"{name}.cat"), $"{name}.cv2", outChannels, 1);
    }

    private static string Head(GraphBuilder b, string x, string name, long channels, string output) =>
        b.Conv(ConvBlock(b, x, $"{name}.0", b.Channels(x), 3), output, channels, 1, bias: true);
}
