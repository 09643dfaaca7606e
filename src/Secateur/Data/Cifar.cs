namespace Secateur.Data;

/// <summary>
/// CIFAR-10 and CIFAR-100 in their binary distribution: records of label byte(s) followed by 3,072 pixel bytes
/// (1,024 red, then green, then blue, row-major 32×32) — already CHW.
/// </summary>
public static class Cifar
{
    private const int Pixels = 3 * 32 * 32;

    /// <summary>CIFAR-10 class names.</summary>
    public static IReadOnlyList<string> Cifar10Classes { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Mean of the CIFAR-10 training set per channel (RGB).</summary>
    public static float[] Mean { get; } = [0.4914f, 0.4822f, 0.4465f];

    /// <summary>Standard deviation of the CIFAR-10 training set per channel (RGB).</summary>
    public static float[] Std { get; } = [0.2470f, 0.2435f, 0.2616f];

    /// <summary>Loads CIFAR-10 from <paramref name="dir"/> (data_batch_1..5.bin, test_batch.bin; a cifar-10-batches-bin sub-folder is found too).</summary>
    public static ImageDataset Load10(string dir, bool train)
    {
        dir = Resolve(dir, "cifar-10-batches-bin", "data_batch_1.bin");
        var files = train ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin") : ["test_batch.bin"];
        return Read(dir, files, labelBytes: 1, classCount: 10, Cifar10Classes, $"cifar10 {(train ? "train" : "test")}");
    }

    /// <summary>Loads CIFAR-100 (fine labels) from <paramref name="dir"/> (train.bin, test.bin).</summary>
    public static ImageDataset Load100(string dir, bool train)
    {
        dir = Resolve(dir, "cifar-100-binary", "train.bin");
        return Read(dir, [train ? "train.bin" : "test.bin"], labelBytes: 2, classCount: 100, null, $"cifar100 {(train ? "train" : "test")}");
    }

    /// <summary>Parses records from one file's bytes.</summary>
    internal static (byte[] Pixels, int[] Labels) Parse(byte[] data, string name, int labelBytes, int classCount)
    {
        int record = labelBytes + Pixels;
        if (data.Length == 0 || data.Length % record != 0)
            throw new SecateurException(ErrorCode.BadFile,
                $"'{name}' is {data.Length:N0} bytes, not a whole number of {record:N0}-byte CIFAR records: the file is truncated or not CIFAR");
        int n = data.Length / record;
        var pixels = new byte[(long)n * Pixels];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            int offset = i * record;
            int label = data[offset + labelBytes - 1]; // CIFAR-100: coarse then fine; use fine
            if (label >= classCount)
                throw new SecateurException(ErrorCode.BadFile, $"'{name}' record {i} has label {label}, outside 0 to {classCount - 1}");
            labels[i] = label;
            Buffer.BlockCopy(data, offset + labelBytes, pixels, i * Pixels, Pixels);
        }
        return (pixels, labels);
    }

    private static ImageDataset Read(string dir, IEnumerable<string> files, int labelBytes, int classCount, IReadOnlyList<string>? names, string name)
    {
        var pixels = new List<byte[]>();
        var labels = new List<int[]>();
        foreach (var f in files)
        {
            var path = Path.Combine(dir, f);
            if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"CIFAR file '{path}' not found");
            var (p, l) = Parse(Idx.ReadAll(path), path, labelBytes, classCount);
            pixels.Add(p);
            labels.Add(l);
        }
        var all = new byte[pixels.Sum(p => (long)p.Length)];
        long offset = 0;
        foreach (var p in pixels)
        {
            Buffer.BlockCopy(p, 0, all, (int)offset, p.Length);
            offset += p.Length;
        }
        return ImageDataset.FromBytes(all, new ImageShape(3, 32, 32), labels.SelectMany(l => l).ToArray(), classCount, names, name);
    }

    private static string Resolve(string dir, string subfolder, string marker)
    {
        if (File.Exists(Path.Combine(dir, marker))) return dir;
        var nested = Path.Combine(dir, subfolder);
        if (File.Exists(Path.Combine(nested, marker))) return nested;
        throw new SecateurException(ErrorCode.BadFile, $"no CIFAR binary files ({marker}) in '{dir}' or '{nested}'");
    }
}
