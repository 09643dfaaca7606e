namespace Secateur.Data;

/// <summary>
/// An immutable, in-memory set of labelled images of one shape.
/// </summary>
/// <remarks>
/// <para>
/// Storage layout: each image is kept separately in channel-major order (CHW: all of channel 0 row by
/// row, then channel 1, ...), either as unsigned bytes (0–255, the compact form every file loader
/// produces: 1 byte per pixel per channel) or as floats already scaled to [0, 1].
/// <see cref="GetImage"/> and <see cref="CopyImage"/> always return floats in [0, 1] (bytes are divided by 255).
/// </para>
/// <para>
/// Images are held as slices of shared buffers, so <see cref="Subset"/>, <see cref="Take"/> and
/// <see cref="Split"/> copy no pixels. Instances are safe to read from several threads.
/// </para>
/// </remarks>
public sealed class ImageDataset
{
    // Exact i/255f for every byte value: identical to dividing each byte by 255 (what torchvision's
    // ToTensor does) but a table lookup is cheaper than a division in the batching hot loop.
    private static readonly float[] s_byteToUnit = CreateByteTable();

    private readonly ReadOnlyMemory<byte>[]? _bytes;
    private readonly ReadOnlyMemory<float>[]? _floats;
    private readonly ReadOnlyMemory<byte>[]? _masks;

    private ImageDataset(
        string name, ImageShape shape, ReadOnlyMemory<byte>[]? bytes, ReadOnlyMemory<float>[]? floats,
        int[] labels, int classCount, IReadOnlyList<string>? classNames, ReadOnlyMemory<byte>[]? masks = null, int ignoreIndex = DefaultIgnoreIndex, bool labelled = true)
    {
        _masks = masks;
        IgnoreIndex = ignoreIndex;
        Name = name;
        IsLabelled = labelled;
        Shape = shape;
        _bytes = bytes;
        _floats = floats;
        Labels = labels;
        ClassCount = classCount;
        ClassNames = classNames;
    }

    /// <summary>
    /// Creates a dataset from contiguous uint8 pixels: <paramref name="labels"/>.Length images, each
    /// <paramref name="shape"/>.Size bytes in CHW order. The arrays are taken, not copied; do not modify them afterwards.
    /// </summary>
    /// <param name="pixels">All pixels, image after image, each image CHW.</param>
    /// <param name="shape">Shape of every image.</param>
    /// <param name="labels">Class index of every image, each in [0, <paramref name="classCount"/>).</param>
    /// <param name="classCount">Number of classes (may exceed the largest label present).</param>
    /// <param name="classNames">Optional class names; when given, exactly <paramref name="classCount"/> of them.</param>
    /// <param name="name">Human-readable name used in messages (e.g. "fashion-mnist train").</param>
    /// <exception cref="ArgumentException">The arguments are inconsistent.</exception>
    public static ImageDataset FromBytes(
        byte[] pixels, ImageShape shape, int[] labels, int classCount,
        IReadOnlyList<string>? classNames = null, string name = "images")
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var slices = Slice(pixels, shape, labels, nameof(pixels));
        return Create(name, shape, slices, null, labels, classCount, classNames);
    }

    /// <summary>
    /// Creates a dataset from contiguous float pixels in [0, 1]: <paramref name="labels"/>.Length images, each
    /// <paramref name="shape"/>.Size floats in CHW order. The arrays are taken, not copied; do not modify them afterwards.
    /// </summary>
    /// <param name="pixels">All pixels, image after image, each image CHW, values in [0, 1].</param>
    /// <param name="shape">Shape of every image.</param>
    /// <param name="labels">Class index of every image, each in [0, <paramref name="classCount"/>).</param>
    /// <param name="classCount">Number of classes.</param>
    /// <param name="classNames">Optional class names; when given, exactly <paramref name="classCount"/> of them.</param>
    /// <param name="name">Human-readable name used in messages.</param>
    /// <exception cref="ArgumentException">The arguments are inconsistent.</exception>
    public static ImageDataset FromFloats(
        float[] pixels, ImageShape shape, int[] labels, int classCount,
        IReadOnlyList<string>? classNames = null, string name = "images")
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var slices = Slice(pixels, shape, labels, nameof(pixels));
        return Create(name, shape, null, slices, labels, classCount, classNames);
    }

    /// <summary>Creates a dataset from per-image byte slices (each CHW, <paramref name="shape"/>.Size long).</summary>
    internal static ImageDataset FromByteImages(
        ReadOnlyMemory<byte>[] images, ImageShape shape, int[] labels, int classCount,
        IReadOnlyList<string>? classNames, string name)
    {
        shape.CheckValid(nameof(shape));
        if (images.Length != labels.Length)
            throw new ArgumentException($"{images.Length} images but {labels.Length} labels.", nameof(labels));
        foreach (var image in images)
            if (image.Length != shape.Size)
                throw new ArgumentException($"An image has {image.Length} elements, expected {shape.Size}.", nameof(images));
        return Create(name, shape, images, null, labels, classCount, classNames);
    }

    /// <summary>Human-readable name used in messages (e.g. "fashion-mnist train").</summary>
    public string Name { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Shape of every image (CHW).</summary>
    public ImageShape Shape { get; }

    /// <summary>Channels per image (1 grayscale, 3 RGB).</summary>
    public int Channels => Shape.Channels;

    /// <summary>Image height in pixels.</summary>
    public int Height => Shape.Height;

    /// <summary>Image width in pixels.</summary>
    public int Width => Shape.Width;

    /// <summary>Number of classes; every label is in [0, ClassCount).</summary>
    public int ClassCount { get; }

    /// <summary>
    /// Class index of every image. This is the dataset's own array (exposed as an array so hot loops
    /// can index it cheaply): treat it as read-only.
    /// </summary>
    public int[] Labels { get; }

    /// <summary>
    /// False for images without labels (a flat folder, or a labelled set used label-free): <see cref="Labels"/> are then
    /// all 0 and <see cref="ClassCount"/> is 1, placeholders that no metric or loss may read.
    /// </summary>
    public bool IsLabelled { get; }

    /// <summary>The same images without their labels (no pixels are copied): what a label-free workflow trains on.</summary>
    public ImageDataset WithoutLabels(string? name = null) =>
        new(name ?? Name, Shape, _bytes, _floats, new int[Count], 1, null, labelled: false);

    /// <summary>Class names indexed by label, or null when the source has none.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>True when pixels are stored as uint8 (the compact form), false when stored as floats.</summary>
    public bool StoresBytes => _bytes is not null;

    /// <summary>The mask value of pixels that count for no class (no loss, no metric) unless told otherwise: 255, as in Pascal VOC and Cityscapes.</summary>
    public const int DefaultIgnoreIndex = 255;

    /// <summary>True for a segmentation set: every image has a mask of one class index per pixel (<see cref="GetMask"/>).</summary>
    public bool HasMasks => _masks is not null;

    /// <summary>The mask value that counts for no class (only meaningful with <see cref="HasMasks"/>).</summary>
    public int IgnoreIndex { get; }

    /// <summary>
    /// The mask of image <paramref name="index"/>: H×W class indices (row-major), each below <see cref="ClassCount"/>
    /// or equal to <see cref="IgnoreIndex"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The dataset has no masks.</exception>
    public ReadOnlySpan<byte> GetMask(int index) =>
        (_masks ?? throw new InvalidOperationException($"Dataset '{Name}' has no masks."))[index].Span;

    /// <summary>
    /// The same images with a segmentation mask each (H×W class indices, row-major); <see cref="ClassCount"/> becomes
    /// the number of mask classes (<paramref name="classCount"/>, with <paramref name="classNames"/> when given).
    /// The arrays are taken, not copied.
    /// </summary>
    /// <exception cref="SecateurException">BadFile naming the image when a mask holds a class ≥ <paramref name="classCount"/> other than <paramref name="ignoreIndex"/>.</exception>
    public ImageDataset WithMasks(ReadOnlyMemory<byte>[] masks, int classCount, int ignoreIndex = DefaultIgnoreIndex, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(masks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        if (ignoreIndex is < 0 or > 255)
            throw new SecateurException(ErrorCode.BadArgument, $"the ignore index must be in [0, 255] (masks are 8-bit), got {ignoreIndex}", nameof(IgnoreIndex));
        if (masks.Length != Count) throw new ArgumentException($"{masks.Length} masks for {Count} images.", nameof(masks));
        if (classNames is not null && classNames.Count != classCount)
            throw new ArgumentException($"{classNames.Count} class names for {classCount} classes.", nameof(classNames));
        int plane = Height * Width;
        for (int i = 0; i < masks.Length; i++)
        {
            if (masks[i].Length != plane) throw new ArgumentException($"Mask {i} has {masks[i].Length} pixels, the images have {plane}.", nameof(masks));
            var m = masks[i].Span;
            for (int k = 0; k < m.Length; k++)
                if (m[k] >= classCount && m[k] != ignoreIndex)
                    throw new SecateurException(ErrorCode.BadFile,
                        $"mask of image {i} of '{Name}' has class {m[k]} at pixel ({k / Width}, {k % Width}), but there are {classCount} classes (0-{classCount - 1}, {ignoreIndex} ignored)", ParameterNames.Data);
        }
        var names = classNames is null ? null : Array.AsReadOnly(classNames.ToArray());
        // Image labels mean nothing for segmentation: all 0, so that splits and subsets work unchanged.
        return new ImageDataset(Name, Shape, _bytes, _floats, new int[Count], classCount, names, masks, ignoreIndex);
    }

    /// <summary>Name of class <paramref name="label"/>, or its number when there are no names.</summary>
    public string ClassName(int label) =>
        ClassNames is { } names && (uint)label < (uint)names.Count ? names[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Image <paramref name="index"/> as a new float array, CHW, values in [0, 1].</summary>
    public float[] GetImage(int index)
    {
        var image = new float[Shape.Size];
        CopyImage(index, image);
        return image;
    }

    /// <summary>Writes image <paramref name="index"/> (CHW, values in [0, 1]) into <paramref name="destination"/>, which must hold at least <see cref="ImageShape.Size"/> floats.</summary>
    public void CopyImage(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        if (destination.Length < Shape.Size)
            throw new ArgumentException($"Destination holds {destination.Length} floats, an image needs {Shape.Size}.", nameof(destination));

        if (_floats is not null)
        {
            _floats[index].Span.CopyTo(destination);
            return;
        }

        var source = _bytes![index].Span;
        var table = s_byteToUnit;
        var dest = destination[..source.Length];
        for (var i = 0; i < source.Length; i++)
            dest[i] = table[source[i]];
    }

    /// <summary>
    /// The raw uint8 pixels (CHW) of image <paramref name="index"/>, without conversion.
    /// Only valid when <see cref="StoresBytes"/> is true.
    /// </summary>
    /// <exception cref="InvalidOperationException">The dataset stores floats.</exception>
    public ReadOnlySpan<byte> GetImageBytes(int index)
    {
        if (_bytes is null)
            throw new InvalidOperationException($"Dataset '{Name}' stores floats, not bytes.");
        return _bytes[index].Span;
    }

    /// <summary>Class index of image <paramref name="index"/>.</summary>
    public int GetLabel(int index) => Labels[index];

    /// <summary>Number of images of each class (array of length <see cref="ClassCount"/>).</summary>
    public int[] CountPerClass()
    {
        var counts = new int[ClassCount];
        foreach (var label in Labels)
            counts[label]++;
        return counts;
    }

    /// <summary>A dataset of the images at <paramref name="indices"/>, in that order (repeats allowed). No pixels are copied.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [0, Count).</exception>
    public ImageDataset Subset(IEnumerable<int> indices, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var list = indices as IReadOnlyList<int> ?? indices.ToArray();
        var labels = new int[list.Count];
        var bytes = _bytes is null ? null : new ReadOnlyMemory<byte>[list.Count];
        var floats = _floats is null ? null : new ReadOnlyMemory<float>[list.Count];
        var masks = _masks is null ? null : new ReadOnlyMemory<byte>[list.Count];
        for (var i = 0; i < list.Count; i++)
        {
            var source = list[i];
            if ((uint)source >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Index {source} is outside dataset '{Name}' of {Count} images.");
            labels[i] = Labels[source];
            if (bytes is not null) bytes[i] = _bytes![source];
            if (floats is not null) floats[i] = _floats![source];
            if (masks is not null) masks[i] = _masks![source];
        }
        return new ImageDataset(name ?? Name, Shape, bytes, floats, labels, ClassCount, ClassNames, masks, IgnoreIndex, IsLabelled);
    }

    /// <summary>The first <paramref name="count"/> images (all of them if there are fewer).</summary>
    public ImageDataset Take(int count, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Subset(Enumerable.Range(0, Math.Min(count, Count)), name);
    }

    /// <summary>
    /// Splits off a validation set, stratified by class: from each class, round(fraction × class size)
    /// images chosen by a shuffle seeded with <paramref name="seed"/> go to validation, the rest to
    /// training. Both parts keep the original relative order. Deterministic for a given seed.
    /// </summary>
    /// <param name="validationFraction">Fraction for validation, strictly between 0 and 1.</param>
    /// <param name="seed">Seed of the per-class shuffle.</param>
    /// <exception cref="SecateurException">ErrorCode.BadArgument when the fraction is not in (0, 1).</exception>
    public (ImageDataset Train, ImageDataset Validation) Split(double validationFraction, int seed)
    {
        if (!(validationFraction > 0 && validationFraction < 1))
            throw new SecateurException(ErrorCode.BadArgument,
                $"Validation fraction must be between 0 and 1 (exclusive), got {validationFraction}.");

        var byClass = new List<int>[ClassCount];
        for (var c = 0; c < ClassCount; c++)
            byClass[c] = [];
        for (var i = 0; i < Count; i++)
            byClass[Labels[i]].Add(i);

        var rng = new Random(seed);
        var isValidation = new bool[Count];
        foreach (var members in byClass)
        {
            var take = (int)Math.Round(validationFraction * members.Count, MidpointRounding.AwayFromZero);
            var shuffled = members.ToArray();
            rng.Shuffle(shuffled);
            for (var k = 0; k < take; k++)
                isValidation[shuffled[k]] = true;
        }

        var train = new List<int>(Count);
        var validation = new List<int>();
        for (var i = 0; i < Count; i++)
            (isValidation[i] ? validation : train).Add(i);
        return (Subset(train, Name + " (train split)"), Subset(validation, Name + " (validation split)"));
    }

    /// <inheritdoc />
    public override string ToString() => IsLabelled ? $"{Name}: {Count} images {Shape}, {ClassCount} classes" : $"{Name}: {Count} unlabelled images {Shape}";

    private static ImageDataset Create(
        string name, ImageShape shape, ReadOnlyMemory<byte>[]? bytes, ReadOnlyMemory<float>[]? floats,
        int[] labels, int classCount, IReadOnlyList<string>? classNames)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classCount)
                throw new ArgumentException($"Label {labels[i]} of image {i} is outside [0, {classCount}).", nameof(labels));
        if (classNames is not null && classNames.Count != classCount)
            throw new ArgumentException($"{classNames.Count} class names for {classCount} classes.", nameof(classNames));
        var names = classNames is null ? null : Array.AsReadOnly(classNames.ToArray());
        return new ImageDataset(name, shape, bytes, floats, labels, classCount, names);
    }

    private static ReadOnlyMemory<T>[] Slice<T>(T[] pixels, ImageShape shape, int[] labels, string paramName)
    {
        ArgumentNullException.ThrowIfNull(labels);
        shape.CheckValid(nameof(shape));
        if ((long)labels.Length * shape.Size != pixels.LongLength)
            throw new ArgumentException(
                $"{pixels.LongLength} pixel values do not make {labels.Length} images of {shape}.", paramName);
        var slices = new ReadOnlyMemory<T>[labels.Length];
        for (var i = 0; i < slices.Length; i++)
            slices[i] = new ReadOnlyMemory<T>(pixels, i * shape.Size, shape.Size);
        return slices;
    }

    private static float[] CreateByteTable()
    {
        var table = new float[256];
        for (var i = 0; i < table.Length; i++)
            table[i] = i / 255f;
        return table;
    }
}
