namespace Secateur.Data;

/// <summary>An in-place transform of one CHW float image; random transforms draw from the given generator.</summary>
public interface IImageTransform
{
    /// <summary>Transforms <paramref name="image"/> (CHW, <paramref name="shape"/>) in place.</summary>
    void Apply(Span<float> image, ImageShape shape, Random rng);
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

/// <summary>Zero-pads by <c>Pad</c> pixels on every side and crops back to the original size at a random offset.</summary>
public sealed class PadAndRandomCrop(int pad) : IImageTransform
{
    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>Padding in pixels.</summary>
    public int Pad { get; } = pad >= 0 ? pad : throw new SecateurException(ErrorCode.BadArgument, $"crop padding must be at least 0 (got {pad})");

    /// <inheritdoc/>
    public void Apply(Span<float> image, ImageShape shape, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int dy = rng.Next(2 * Pad + 1) - Pad, dx = rng.Next(2 * Pad + 1) - Pad;
        if (dy == 0 && dx == 0) return;
        var scratch = t_scratch is { } s && s.Length >= shape.Size ? s : t_scratch = new float[shape.Size];
        image[..shape.Size].CopyTo(scratch);
        int h = shape.Height, w = shape.Width;
        for (int c = 0; c < shape.Channels; c++)
        {
            int baseIndex = c * shape.PlaneSize;
            for (int y = 0; y < h; y++)
            {
                int sy = y + dy;
                var row = image.Slice(baseIndex + y * w, w);
                if (sy < 0 || sy >= h) { row.Clear(); continue; }
                for (int x = 0; x < w; x++)
                {
                    int sx = x + dx;
                    row[x] = sx >= 0 && sx < w ? scratch[baseIndex + sy * w + sx] : 0f;
                }
            }
        }
    }
}

/// <summary>Mirrors the image left-right with probability <c>P</c>.</summary>
public sealed class RandomHorizontalFlip(double p = 0.5) : IImageTransform
{
    /// <summary>The probability that an image is mirrored left to right, in [0, 1].</summary>
    public double P { get; } = p is >= 0 and <= 1 ? p : throw new SecateurException(ErrorCode.BadArgument, $"flip probability must be in [0, 1] (got {p})");

    /// <inheritdoc/>
    public void Apply(Span<float> image, ImageShape shape, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (rng.NextDouble() >= P) return;
        for (int c = 0; c < shape.Channels; c++)
            for (int y = 0; y < shape.Height; y++)
                image.Slice(c * shape.PlaneSize + y * shape.Width, shape.Width).Reverse();
    }
}
