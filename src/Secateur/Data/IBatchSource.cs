namespace Secateur.Data;

/// <summary>One mini-batch in managed memory: images N×C×H×W row-major, and class labels.</summary>
/// <param name="Images">Pixel data, <c>Count·C·H·W</c> floats.</param>
/// <param name="Labels">Class indices, <c>Count</c> values.</param>
/// <param name="Count">Number of samples in the batch.</param>
/// <param name="SampleShape">C, H, W.</param>
public sealed record Batch(float[] Images, long[] Labels, int Count, long[] SampleShape);

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
