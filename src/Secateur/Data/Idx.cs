using System.Buffers.Binary;
using System.IO.Compression;

namespace Secateur.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (big-endian header: magic 0x00000803 for u8 images
/// N×H×W, 0x00000801 for u8 labels N), gzip-compressed or raw. Every inconsistency is a
/// <see cref="SecateurException"/> (BadFile) naming the file.
/// </summary>
public static class Idx
{
    private const int ImagesMagic = 0x00000803, LabelsMagic = 0x00000801;

    /// <summary>Reads an image file: pixel bytes (N·H·W) and the dimensions.</summary>
    public static (byte[] Pixels, int Count, int Height, int Width) ReadImages(string path) => ReadImages(ReadAll(path), path);

    /// <summary>Reads a label file.</summary>
    public static byte[] ReadLabels(string path) => ReadLabels(ReadAll(path), path);

    /// <summary>Parses image file contents (already decompressed); <paramref name="name"/> is used in messages.</summary>
    public static (byte[] Pixels, int Count, int Height, int Width) ReadImages(byte[] data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length < 16) throw Bad(name, $"is {data.Length} bytes long, too short for an IDX image header (16 bytes)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (magic != ImagesMagic) throw Bad(name, $"is not an IDX image file (magic 0x{magic:x8}, expected 0x{ImagesMagic:x8})");
        int n = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4)), h = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(8)), w = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(12));
        if (n < 0 || h <= 0 || w <= 0) throw Bad(name, $"has invalid dimensions {n}x{h}x{w}");
        long expected = 16 + (long)n * h * w;
        if (data.LongLength != expected)
            throw Bad(name, data.LongLength < expected
                ? $"is truncated: {n} images of {h}x{w} need {expected:N0} bytes, the file has {data.LongLength:N0}"
                : $"has {data.LongLength - expected:N0} unexpected bytes after {n} images of {h}x{w}");
        return (data.AsSpan(16).ToArray(), n, h, w);
    }

    /// <summary>Parses label file contents (already decompressed).</summary>
    public static byte[] ReadLabels(byte[] data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length < 8) throw Bad(name, $"is {data.Length} bytes long, too short for an IDX label header (8 bytes)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (magic != LabelsMagic) throw Bad(name, $"is not an IDX label file (magic 0x{magic:x8}, expected 0x{LabelsMagic:x8})");
        int n = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4));
        if (n < 0) throw Bad(name, $"has a negative label count {n}");
        if (data.LongLength != 8L + n)
            throw Bad(name, data.LongLength < 8L + n
                ? $"is truncated: {n} labels need {8L + n:N0} bytes, the file has {data.LongLength:N0}"
                : $"has {data.LongLength - 8 - n:N0} unexpected bytes after {n} labels");
        return data.AsSpan(8).ToArray();
    }

    /// <summary>Loads an image file and a label file into a dataset, checking they agree.</summary>
    public static ImageDataset Load(string imagesPath, string labelsPath, int classCount, IReadOnlyList<string>? classNames, string name) =>
        FromContents(ReadAll(imagesPath), imagesPath, ReadAll(labelsPath), labelsPath, classCount, classNames, name);

    internal static ImageDataset FromContents(byte[] images, string imagesName, byte[] labels, string labelsName,
        int classCount, IReadOnlyList<string>? classNames, string name)
    {
        var (pixels, n, h, w) = ReadImages(images, imagesName);
        var raw = ReadLabels(labels, labelsName);
        if (raw.Length != n) throw Bad(labelsName, $"has {raw.Length} labels but '{imagesName}' has {n} images");
        var ints = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (raw[i] >= classCount) throw Bad(labelsName, $"label {raw[i]} of sample {i} is not a class (expected 0 to {classCount - 1})");
            ints[i] = raw[i];
        }
        return ImageDataset.FromBytes(pixels, new ImageShape(1, h, w), ints, classCount, classNames, name);
    }

    /// <summary>Reads a whole file, decompressing gzip when it starts with the gzip magic.</summary>
    internal static byte[] ReadAll(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"cannot read '{path}': {e.Message}", e);
        }
        if (data.Length < 2 || data[0] != 0x1f || data[1] != 0x8b) return data;
        return Gunzip(data, path);
    }

    internal static byte[] Gunzip(byte[] data, string name)
    {
        try
        {
            using var gz = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gz.CopyTo(output);
            return output.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{name}' is a corrupt or truncated gzip file: {e.Message}", e);
        }
    }

    private static SecateurException Bad(string name, string why) => new(ErrorCode.BadFile, $"'{name}' {why}");
}

/// <summary>Fashion-MNIST (Xiao et al. 2017): 60,000 train and 10,000 test 28×28 grey images of 10 clothing classes.</summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Per-channel mean of the training images (in [0, 1] units).</summary>
    public const float Mean = 0.2860f;

    /// <summary>Per-channel standard deviation of the training images.</summary>
    public const float Std = 0.3530f;

    /// <summary>The class names in label order.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Loads the train or test split from <paramref name="dataDir"/> (default: the Debian location).</summary>
    public static ImageDataset Load(string? dataDir, bool train)
    {
        var dir = dataDir ?? DebianDirectory;
        var prefix = train ? "train" : "t10k";
        var images = Find(dir, $"{prefix}-images-idx3-ubyte");
        var labels = Find(dir, $"{prefix}-labels-idx1-ubyte");
        return Idx.Load(images, labels, 10, ClassNames, $"fashion-mnist {(train ? "train" : "test")}");
    }

    private static string Find(string dir, string stem)
    {
        foreach (var candidate in new[] { stem + ".gz", stem, stem.Replace("-idx", ".idx", StringComparison.Ordinal) + ".gz" })
        {
            var path = Path.Combine(dir, candidate);
            if (File.Exists(path)) return path;
        }
        throw new SecateurException(ErrorCode.BadFile,
            $"Fashion-MNIST file {stem}(.gz) not found in '{dir}'; install it with 'apt-get install dataset-fashion-mnist', give a directory holding the four IDX files, or use the built-in subset ('embedded')", ParameterNames.DataDirectory);
    }
}

/// <summary>
/// The balanced Fashion-MNIST subset embedded in the library (3,000 train and 1,000 test images, 300 and 100
/// per class), made by <c>scripts/make-embedded-fashion-mnist.py</c>: the demo and the tests need no download.
/// </summary>
public static class EmbeddedFashionMnist
{
    /// <summary>Loads the embedded train or test split.</summary>
    public static ImageDataset Load(bool train)
    {
        var prefix = train ? "train" : "t10k";
        var images = Resource($"fashion-mnist-mini-{prefix}-images-idx3-ubyte.gz");
        var labels = Resource($"fashion-mnist-mini-{prefix}-labels-idx1-ubyte.gz");
        return Idx.FromContents(images.Data, images.Name, labels.Data, labels.Name, 10, FashionMnist.ClassNames,
            $"fashion-mnist-mini {(train ? "train" : "test")}");
    }

    private static (byte[] Data, string Name) Resource(string file)
    {
        var name = "Secateur.Data.Embedded." + file;
        using var s = typeof(EmbeddedFashionMnist).Assembly.GetManifestResourceStream(name)
            ?? throw new SecateurException(ErrorCode.BadFile, $"embedded resource '{name}' is missing from the Secateur assembly");
        using var m = new MemoryStream();
        s.CopyTo(m);
        return (Idx.Gunzip(m.ToArray(), name), name);
    }
}
