namespace Secateur.Data;

/// <summary>An in-place transform of one CHW float image; random transforms draw from the given generator.</summary>
public interface IImageTransform
{
    /// <summary>Transforms <paramref name="image"/> (CHW, <paramref name="shape"/>) in place.</summary>
    void Apply(Span<float> image, ImageShape shape, Random rng);
}

/// <summary>
/// A geometric transform that can move a segmentation mask with its image: the same random draws, the same offsets
/// and flips, so that every mask pixel still labels the image pixel it labelled before.
/// </summary>
public interface IJointTransform : IImageTransform
{
    /// <summary>Transforms <paramref name="image"/> (CHW, <paramref name="shape"/>) and <paramref name="mask"/> (H×W) in place alike; uncovered mask pixels get <paramref name="maskFill"/>.</summary>
    void Apply(Span<float> image, Span<byte> mask, ImageShape shape, Random rng, byte maskFill);
}

/// <summary>Subtracts a per-channel mean and divides by a per-channel standard deviation.</summary>
public sealed class Normalize : IImageTransform
{
    private readonly float[] _mean, _invStd;

    /// <summary>One mean and std per channel (or one value for all channels).</summary>
    public Normalize(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length != std.Length || mean.Length == 0) throw new SecateurException(ErrorCode.BadArgument, "normalisation needs as many means as standard deviations");
        if (std.Any(s => !(s > 0))) throw new SecateurException(ErrorCode.BadArgument, "normalisation standard deviations must be positive");
        _mean = (float[])mean.Clone();
        _invStd = std.Select(s => 1f / s).ToArray();
    }

    /// <summary>Means per channel.</summary>
    public IReadOnlyList<float> Mean => _mean;

    /// <summary>Standard deviations per channel.</summary>
    public IReadOnlyList<float> Std => _invStd.Select(s => 1f / s).ToArray();

    /// <inheritdoc/>
    public void Apply(Span<float> image, ImageShape shape, Random rng)
    {
        if (_mean.Length != 1 && _mean.Length != shape.Channels)
            throw new SecateurException(ErrorCode.BadArgument, $"normalisation has {_mean.Length} channel statistics, the images have {shape.Channels} channels");
        for (int c = 0; c < shape.Channels; c++)
        {
            int k = _mean.Length == 1 ? 0 : c;
            float m = _mean[k], s = _invStd[k];
            var plane = image.Slice(c * shape.PlaneSize, shape.PlaneSize);
            for (int i = 0; i < plane.Length; i++) plane[i] = (plane[i] - m) * s;
        }
    }
}

/// <summary>
/// Zero-pads by <c>Pad</c> pixels on every side and crops back to the original size at a random offset; a mask moves
/// by the same offset, its uncovered pixels filled (with the ignore index: padding is no class).
/// </summary>
public sealed class PadAndRandomCrop(int pad) : IJointTransform
{
    [ThreadStatic] private static float[]? t_scratch;
    [ThreadStatic] private static byte[]? t_maskScratch;

    /// <summary>Padding in pixels.</summary>
    public int Pad { get; } = pad >= 0 ? pad : throw new SecateurException(ErrorCode.BadArgument, $"crop padding must be at least 0 (got {pad})");

    /// <inheritdoc/>
    public void Apply(Span<float> image, ImageShape shape, Random rng)
    {
        var (dy, dx) = Offset(rng);
        Shift(image, shape.Channels, shape.Height, shape.Width, dy, dx, 0f, ref t_scratch);
    }

    /// <inheritdoc/>
    public void Apply(Span<float> image, Span<byte> mask, ImageShape shape, Random rng, byte maskFill)
    {
        var (dy, dx) = Offset(rng);
        Shift(image, shape.Channels, shape.Height, shape.Width, dy, dx, 0f, ref t_scratch);
        Shift(mask, 1, shape.Height, shape.Width, dy, dx, maskFill, ref t_maskScratch);
    }

    private (int Dy, int Dx) Offset(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return (rng.Next(2 * Pad + 1) - Pad, rng.Next(2 * Pad + 1) - Pad);
    }

    // Output pixel (y, x) takes input pixel (y + dy, x + dx), or the fill outside the input.
    private static void Shift<T>(Span<T> planes, int channels, int h, int w, int dy, int dx, T fill, ref T[]? scratchSlot)
    {
        if (dy == 0 && dx == 0) return;
        int size = channels * h * w;
        var scratch = scratchSlot is { } s && s.Length >= size ? s : scratchSlot = new T[size];
        planes[..size].CopyTo(scratch);
        for (int c = 0; c < channels; c++)
        {
            int baseIndex = c * h * w;
            for (int y = 0; y < h; y++)
            {
                int sy = y + dy;
                var row = planes.Slice(baseIndex + y * w, w);
                if (sy < 0 || sy >= h) { row.Fill(fill); continue; }
                for (int x = 0; x < w; x++)
                {
                    int sx = x + dx;
                    row[x] = sx >= 0 && sx < w ? scratch[baseIndex + sy * w + sx] : fill;
                }
            }
        }
    }
}

/// <summary>Mirrors the image left-right with probability <c>P</c>.</summary>
public sealed class RandomHorizontalFlip(double p = 0.5) : IJointTransform
{
    /// <summary>The probability that an image is mirrored left to right, in [0, 1].</summary>
    public double P { get; } = p is >= 0 and <= 1 ? p : throw new SecateurException(ErrorCode.BadArgument, $"flip probability must be in [0, 1] (got {p})");

    /// <inheritdoc/>
    public void Apply(Span<float> image, ImageShape shape, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (rng.NextDouble() >= P) return;
        Mirror(image, shape.Channels, shape.Height, shape.Width);
    }

    /// <inheritdoc/>
    public void Apply(Span<float> image, Span<byte> mask, ImageShape shape, Random rng, byte maskFill)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (rng.NextDouble() >= P) return;
        Mirror(image, shape.Channels, shape.Height, shape.Width);
        Mirror(mask, 1, shape.Height, shape.Width);
    }

    private static void Mirror<T>(Span<T> planes, int channels, int h, int w)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < h; y++)
                planes.Slice((c * h + y) * w, w).Reverse();
    }
}
