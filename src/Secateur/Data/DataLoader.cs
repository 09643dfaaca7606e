using Secateur.Graph;

namespace Secateur.Data;

/// <summary>
/// Batches an <see cref="ImageDataset"/>: optional shuffling and per-sample transforms, all derived from
/// (seed, epoch, batch) so that an epoch's batches are the same in every run — a resumed run reproduces them —
/// and batches can be built ahead on another thread while the model trains on the current one.
/// </summary>
public sealed class DataLoader : IBatchSource
{
    private readonly IReadOnlyList<IImageTransform> _transforms;
    private readonly InputTransform? _input;

    /// <summary>Creates a loader.</summary>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="shuffle">Visit samples in a new random order every epoch.</param>
    /// <param name="dropLast">Drop a final batch smaller than <paramref name="batchSize"/>.</param>
    /// <param name="seed">Seed for the order and the random transforms.</param>
    /// <param name="transforms">Transforms applied in order to each image (augmentation, then normalisation).</param>
    /// <param name="prefetch">Build the next batch on a worker thread.</param>
    /// <param name="preprocessing">
    /// The model's input description, applied after <paramref name="transforms"/> (see <see cref="InputTransform"/>);
    /// null leaves the transformed images as they are (CHW).
    /// </param>
    /// <exception cref="SecateurException">BadArgument when the images' channels do not fit <paramref name="preprocessing"/>.</exception>
    public DataLoader(ImageDataset data, int batchSize, bool shuffle = false, bool dropLast = false, int seed = 0,
        IReadOnlyList<IImageTransform>? transforms = null, bool prefetch = true, InputPreprocessing? preprocessing = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new SecateurException(ErrorCode.BadArgument, $"batch size must be at least 1 (got {batchSize})");
        Data = data;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        Prefetch = prefetch;
        _transforms = transforms ?? [];
        // A transform that cannot move a mask would leave image and mask misaligned: refuse it rather than train on noise.
        if (data.HasMasks && _transforms.FirstOrDefault(t => t is not IJointTransform) is { } lone)
            throw new SecateurException(ErrorCode.BadArgument, $"transform {lone.GetType().Name} cannot move a segmentation mask with its image", ParameterNames.Data);
        _input = preprocessing is null ? null : new InputTransform(preprocessing, data.Shape);
    }

    /// <summary>The input description applied last, or null.</summary>
    public InputPreprocessing? Preprocessing => _input?.Preprocessing;

    /// <summary>The dimensions of one sample of a batch, without the batch: C, H, W, or H, W, C for an NHWC input.</summary>
    public long[] SampleShape => _input?.SampleShape ?? [Data.Channels, Data.Height, Data.Width];

    /// <summary>The dataset the batches are drawn from (images and labels, before the transforms).</summary>
    public ImageDataset Data { get; }

    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>
    /// Throws when the images have no labels: what an accuracy (or any other label-reading) computation calls before
    /// it reads the placeholder labels of an unlabelled set.
    /// </summary>
    /// <param name="source">The batches.</param>
    /// <param name="what">What needs them, for the message (e.g. "accuracy").</param>
    public static void RequireLabels(IBatchSource source, string what)
    {
        if (source is DataLoader { Data.IsLabelled: false } d)
            throw new SecateurException(ErrorCode.BadArgument, $"{what} needs labelled images, but {d.Data.Name} has none (agreement with a reference model needs no labels)", ParameterNames.Data);
    }

    /// <summary>Whether the order changes every epoch.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether a final partial batch is dropped.</summary>
    public bool DropLast { get; }

    /// <summary>Seed of order and transforms.</summary>
    public int Seed { get; }

    /// <summary>Whether batches are built one ahead on a worker thread.</summary>
    public bool Prefetch { get; }

    /// <inheritdoc/>
    public long Samples => DropLast ? (long)BatchesPerEpoch * BatchSize : Data.Count;

    /// <inheritdoc/>
    public int BatchesPerEpoch => DropLast ? Data.Count / BatchSize : (Data.Count + BatchSize - 1) / BatchSize;

    /// <summary>The sample indices of epoch <paramref name="epoch"/> in visiting order.</summary>
    public int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, Data.Count).ToArray();
        if (Shuffle) new Random(Mix(Seed, epoch, -1)).Shuffle(order);
        return order;
    }

    /// <inheritdoc/>
    public IEnumerable<Batch> Epoch(int epoch)
    {
        var order = Order(epoch);
        int batches = BatchesPerEpoch;
        if (!Prefetch)
        {
            for (int b = 0; b < batches; b++) yield return Build(order, epoch, b);
            yield break;
        }
        Task<Batch>? next = batches > 0 ? Task.Run(() => Build(order, epoch, 0)) : null;
        for (int b = 0; b < batches; b++)
        {
            var current = next!.GetAwaiter().GetResult();
            int following = b + 1;
            next = following < batches ? Task.Run(() => Build(order, epoch, following)) : null;
            yield return current;
        }
    }

    private Batch Build(int[] order, int epoch, int batch)
    {
        int start = batch * BatchSize;
        int count = Math.Min(BatchSize, order.Length - start);
        var shape = Data.Shape;
        int sampleSize = _input?.Output.Size ?? shape.Size;
        var images = new float[(long)count * sampleSize];
        var labels = new long[count];
        var rng = new Random(Mix(Seed, epoch, batch));
        // With a preprocessing the image is prepared in a scratch and written once, in the model's layout.
        var scratch = _input is null ? null : new float[shape.Size];
        int plane = shape.PlaneSize;
        var masks = Data.HasMasks ? new long[(long)count * plane] : null;
        var mask = Data.HasMasks ? new byte[plane] : null;
        byte fill = (byte)Data.IgnoreIndex;
        for (int i = 0; i < count; i++)
        {
            int index = order[start + i];
            var sample = images.AsSpan(i * sampleSize, sampleSize);
            Span<float> span = scratch is null ? sample : scratch;
            Data.CopyImage(index, span);
            if (mask is not null)
            {
                Data.GetMask(index).CopyTo(mask);
                foreach (var t in _transforms) ((IJointTransform)t).Apply(span, mask, shape, rng, fill);
                var target = masks!.AsSpan(i * plane, plane);
                for (int k = 0; k < plane; k++) target[k] = mask[k];
            }
            else
                foreach (var t in _transforms) t.Apply(span, shape, rng);
            _input?.Apply(span, sample);
            labels[i] = Data.Labels[index];
        }
        return masks is null ? new Batch(images, labels, count, SampleShape)
            : new Batch(images, labels, count, SampleShape) { Masks = masks, MaskSize = (shape.Height, shape.Width), IgnoreIndex = Data.IgnoreIndex };
    }

    /// <summary>A well-spread 32-bit seed from three integers (splitmix64 finaliser).</summary>
    internal static int Mix(int seed, int epoch, int batch)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)epoch) ^ ((ulong)(uint)batch * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }
}
