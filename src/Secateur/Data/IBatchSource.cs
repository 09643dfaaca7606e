namespace Secateur.Data;

/// <summary>One mini-batch in managed memory: images N×C×H×W row-major, and class labels.</summary>
/// <param name="Images">Pixel data, <c>Count·C·H·W</c> floats.</param>
/// <param name="Labels">Class indices, <c>Count</c> values.</param>
/// <param name="Count">Number of samples in the batch.</param>
/// <param name="SampleShape">C, H, W.</param>
public sealed record Batch(float[] Images, long[] Labels, int Count, long[] SampleShape)
{
    /// <summary>
    /// Segmentation targets, <c>Count·H·W</c> class indices (N×H×W row-major), or null for a classification batch:
    /// when set, they (not <see cref="Labels"/>) are what a model's N×K×H×W output is scored against.
    /// </summary>
    public long[]? Masks { get; init; }

    /// <summary>Height and width of each mask (the images' before any layout change); set with <see cref="Masks"/>.</summary>
    public (int Height, int Width) MaskSize { get; init; }

    /// <summary>The target value that counts for nothing (loss and metrics skip it): the masks' ignore index, or −100 (none) for labels.</summary>
    public int IgnoreIndex { get; init; } = -100;
}

/// <summary>Where the trainer gets its batches: deterministic per epoch, so a resumed run sees the same order.</summary>
public interface IBatchSource
{
    /// <summary>Number of samples per epoch.</summary>
    long Samples { get; }

    /// <summary>Number of batches per epoch.</summary>
    int BatchesPerEpoch { get; }

    /// <summary>The batches of epoch <paramref name="epoch"/> (0-based).</summary>
    IEnumerable<Batch> Epoch(int epoch);
}
