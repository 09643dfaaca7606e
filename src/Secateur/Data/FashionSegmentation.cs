using System.Globalization;
using System.Text.Json;
using StbImageWriteSharp;

namespace Secateur.Data;

/// <summary>How <see cref="FashionSegmentation"/> composes its canvases.</summary>
public sealed record FashionSegmentationOptions
{
    /// <summary>Training canvases (garments from the Fashion-MNIST training split).</summary>
    public int TrainCanvases { get; init; } = 2000;
    /// <summary>Test canvases (garments from the test split).</summary>
    public int TestCanvases { get; init; } = 500;
    /// <summary>Side of the square canvas in pixels; at least 28 (one garment) and a multiple of 8 (the zoo U-Net pools three times).</summary>
    public int CanvasSize { get; init; } = 64;
    /// <summary>Fewest garments on a canvas.</summary>
    public int MinGarments { get; init; } = 1;
    /// <summary>Most garments on a canvas.</summary>
    public int MaxGarments { get; init; } = 4;
    /// <summary>Grey level (0-255) above which a garment pixel is labelled with its garment's class; at or below it the pixel stays what lies under it.</summary>
    public int Threshold { get; init; } = 50;
    /// <summary>Seed of every draw: the same options give the same files.</summary>
    public int Seed { get; init; }

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) naming the first invalid value.</summary>
    public FashionSegmentationOptions Validated()
    {
        static void Check(bool ok, string what, string parameter) { if (!ok) throw new SecateurException(ErrorCode.BadArgument, what, parameter); }
        Check(TrainCanvases >= 1, $"the training canvases must be at least 1 (got {TrainCanvases})", nameof(TrainCanvases));
        Check(TestCanvases >= 1, $"the test canvases must be at least 1 (got {TestCanvases})", nameof(TestCanvases));
        Check(CanvasSize >= 32 && CanvasSize % 8 == 0, $"the canvas size must be a multiple of 8 and at least 32 (got {CanvasSize})", nameof(CanvasSize));
        Check(MinGarments >= 1 && MaxGarments >= MinGarments, $"garments per canvas must be 1 <= min <= max (got {MinGarments}-{MaxGarments})", nameof(MaxGarments));
        Check(Threshold is >= 0 and < 255, $"the threshold must be a grey level in [0, 254] (got {Threshold})", nameof(Threshold));
        return this;
    }
}

/// <summary>
/// A segmentation set made from real images: Fashion-MNIST garments (28×28) placed at random on a black square
/// canvas, each pixel labelled with its garment's class + 1 where the garment is brighter than a threshold, else
/// background 0; a later garment covers an earlier one where it is above the threshold (elsewhere the brighter pixel
/// shows). Training canvases draw garments from the training split, test canvases from the test split. Seeded:
/// the same options and sources give byte-identical files.
/// </summary>
public static class FashionSegmentation
{
    private const int Garment = 28;

    /// <summary>The 11 classes: background, then the ten Fashion-MNIST classes (class k + 1 is garment class k).</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["background", .. FashionMnist.ClassNames];

    /// <summary>
    /// Composes <paramref name="count"/> canvases from <paramref name="garments"/> (1×28×28 images with labels):
    /// images and masks, each <c>Size×Size</c> bytes row-major.
    /// </summary>
    public static (byte[][] Images, byte[][] Masks) Compose(ImageDataset garments, int count, FashionSegmentationOptions options, int stream)
    {
        ArgumentNullException.ThrowIfNull(garments);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        if (garments.Shape != new ImageShape(1, Garment, Garment) || !garments.StoresBytes)
            throw new SecateurException(ErrorCode.BadArgument, $"the garments must be 1×28×28 byte images (Fashion-MNIST), not {garments.Shape}", ParameterNames.Data);
        int size = options.CanvasSize;
        var rng = new Random(DataLoader.Mix(options.Seed, stream, 0)); // not HashCode: it is seeded per process
        var images = new byte[count][];
        var masks = new byte[count][];
        for (int n = 0; n < count; n++)
        {
            var image = new byte[size * size];
            var mask = new byte[size * size];
            int k = rng.Next(options.MinGarments, options.MaxGarments + 1);
            for (int g = 0; g < k; g++)
            {
                int index = rng.Next(garments.Count);
                int top = rng.Next(size - Garment + 1), left = rng.Next(size - Garment + 1);
                var pixels = garments.GetImageBytes(index);
                byte label = (byte)(garments.GetLabel(index) + 1);
                for (int y = 0; y < Garment; y++)
                    for (int x = 0; x < Garment; x++)
                    {
                        byte v = pixels[y * Garment + x];
                        int at = (top + y) * size + left + x;
                        if (v > options.Threshold) { image[at] = v; mask[at] = label; }
                        else image[at] = Math.Max(image[at], v);
                    }
            }
            images[n] = image;
            masks[n] = mask;
        }
        return (images, masks);
    }

    /// <summary>
    /// Writes the set to <paramref name="dir"/> in the <see cref="SegmentationFolder"/> layout:
    /// <c>train/images</c>, <c>train/masks</c>, <c>test/images</c>, <c>test/masks</c> (PNG, matched by file name),
    /// <c>classes.txt</c>, and <c>fashion-seg.json</c> recording the options.
    /// </summary>
    /// <param name="dir">Output folder (created; files of the same names are replaced).</param>
    /// <param name="train">Garments of the training canvases (the Fashion-MNIST training split).</param>
    /// <param name="test">Garments of the test canvases (the test split).</param>
    /// <param name="options">Counts, canvas size, garments per canvas, threshold, seed.</param>
    /// <param name="progress">Receives (canvases written, total).</param>
    public static void Write(string dir, ImageDataset train, ImageDataset test, FashionSegmentationOptions options, IProgress<(int Done, int Total)>? progress = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        int total = options.TrainCanvases + options.TestCanvases, done = 0;
        var writer = new ImageWriter();
        foreach (var (split, source, count, stream) in new[] { ("train", train, options.TrainCanvases, 1), ("test", test, options.TestCanvases, 2) })
        {
            var (images, masks) = Compose(source, count, options, stream);
            string imagesDir = Path.Combine(dir, split, SegmentationFolder.ImagesFolder), masksDir = Path.Combine(dir, split, SegmentationFolder.MasksFolder);
            Directory.CreateDirectory(imagesDir);
            Directory.CreateDirectory(masksDir);
            for (int i = 0; i < count; i++)
            {
                string file = i.ToString("D6", CultureInfo.InvariantCulture) + ".png";
                Png(writer, images[i], options.CanvasSize, Path.Combine(imagesDir, file));
                Png(writer, masks[i], options.CanvasSize, Path.Combine(masksDir, file));
                progress?.Report((++done, total));
            }
        }
        File.WriteAllLines(Path.Combine(dir, SegmentationFolder.ClassesFile), ClassNames);
        File.WriteAllText(Path.Combine(dir, "fashion-seg.json"), JsonSerializer.Serialize(new
        {
            generator = "secateur make-dataset fashion-seg",
            options.TrainCanvases, options.TestCanvases, options.CanvasSize, options.MinGarments, options.MaxGarments, options.Threshold, options.Seed,
            classes = ClassNames,
        }, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void Png(ImageWriter writer, byte[] pixels, int size, string path)
    {
        using var stream = File.Create(path);
        writer.WritePng(pixels, size, size, ColorComponents.Grey, stream);
    }
}
