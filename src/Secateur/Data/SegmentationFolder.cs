using System.Globalization;
using StbImageSharp;

namespace Secateur.Data;

/// <summary>
/// A segmentation set on disk: <c>DIR/images/</c> (PNG, JPEG, …) and <c>DIR/masks/</c> (8-bit greyscale PNG, one class
/// index per pixel), an image and its mask matched by file name without the extension (<c>images/a.jpg</c> ↔
/// <c>masks/a.png</c>); optionally <c>DIR/classes.txt</c>, one class name per line (line k names class k), which fixes
/// the class count. Splits: <c>DIR/train/</c> and <c>DIR/test/</c> each laid out so, else a seeded 10% of one folder
/// is held out as the test split. Images are stretched to the model's input size, masks resized to it by nearest
/// neighbour, so every mask pixel stays a class index.
/// </summary>
public static class SegmentationFolder
{
    /// <summary>Sub-folder of the images.</summary>
    public const string ImagesFolder = "images";

    /// <summary>Sub-folder of the masks.</summary>
    public const string MasksFolder = "masks";

    /// <summary>The optional file of class names.</summary>
    public const string ClassesFile = "classes.txt";

    private static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif" };

    /// <summary>Loads the train and test splits of the set in <paramref name="dir"/>.</summary>
    /// <param name="dir">The set's folder (see the type's summary for its layout).</param>
    /// <param name="shape">Shape images are decoded to (the model's input); null for the first image's own size and channels.</param>
    /// <param name="classCount">Number of classes when <c>classes.txt</c> does not say (the model's); null for the largest mask value + 1.</param>
    /// <param name="ignoreIndex">Mask value that counts for no class.</param>
    public static (ImageDataset Train, ImageDataset Test) Load(string dir, ImageShape? shape = null, int? classCount = null, int ignoreIndex = ImageDataset.DefaultIgnoreIndex)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        if (!Directory.Exists(dir)) throw new SecateurException(ErrorCode.BadFile, $"segmentation folder '{dir}' does not exist", ParameterNames.Data);
        var names = ReadClassNames(dir);
        int? classes = names?.Count ?? classCount;
        string train = Path.Combine(dir, "train"), test = Path.Combine(dir, "test");
        if (Directory.Exists(train) && Directory.Exists(test))
        {
            var first = Load(train, shape, classes, ignoreIndex, names);
            // The test split must have the training split's classes and size, whatever its own masks hold.
            return (first, Load(test, first.Shape, first.ClassCount, ignoreIndex, first.ClassNames));
        }
        if (Directory.Exists(train) || Directory.Exists(test))
            throw new SecateurException(ErrorCode.BadFile, $"segmentation folder '{dir}' has a {(Directory.Exists(train) ? "train" : "test")}/ folder but not the other one; give both, or put images/ and masks/ in '{dir}' itself", ParameterNames.Data);
        var all = Load(dir, shape, classes, ignoreIndex, names);
        return all.Split(0.1, seed: 0);
    }

    /// <summary>Loads one split: <paramref name="root"/>/images and <paramref name="root"/>/masks.</summary>
    /// <exception cref="SecateurException">BadFile for a missing folder, an image without a mask, a mask that is not one channel, or a mask class ≥ the class count other than the ignore index.</exception>
    public static ImageDataset Load(string root, ImageShape? shape, int? classCount, int ignoreIndex, IReadOnlyList<string>? classNames)
    {
        string imagesDir = Path.Combine(root, ImagesFolder), masksDir = Path.Combine(root, MasksFolder);
        foreach (var d in new[] { imagesDir, masksDir })
            if (!Directory.Exists(d)) throw new SecateurException(ErrorCode.BadFile, $"segmentation folder '{root}' has no {Path.GetFileName(d)}/ folder (it needs {ImagesFolder}/ and {MasksFolder}/)", ParameterNames.Data);
        var images = Directory.EnumerateFiles(imagesDir).Where(f => Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToList();
        if (images.Count == 0) throw new SecateurException(ErrorCode.BadFile, $"'{imagesDir}' has no images ({string.Join(", ", Extensions)})", ParameterNames.Data);
        var masks = Directory.EnumerateFiles(masksDir, "*.png").ToDictionary(f => Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal);
        var s = shape ?? NativeShape(images[0]);
        var pixels = new ReadOnlyMemory<byte>[images.Count];
        var maskPixels = new ReadOnlyMemory<byte>[images.Count];
        int largest = -1;
        for (int i = 0; i < images.Count; i++)
        {
            var stem = Path.GetFileNameWithoutExtension(images[i]);
            if (!masks.TryGetValue(stem, out var maskPath))
                throw new SecateurException(ErrorCode.BadFile, $"image '{images[i]}' has no mask: expected '{Path.Combine(masksDir, stem + ".png")}'", ParameterNames.Data);
            pixels[i] = ImageFolder.Decode(images[i], s);
            var mask = DecodeMask(maskPath, s.Height, s.Width);
            foreach (var v in mask)
            {
                if (v == ignoreIndex) continue;
                if (classCount is { } k && v >= k)
                    throw new SecateurException(ErrorCode.BadFile,
                        $"mask '{maskPath}' has class {v}, but there are {k} classes (0-{k - 1}{(ignoreIndex is >= 0 and <= 255 ? $"; {ignoreIndex} is ignored" : "")})", ParameterNames.Data);
                largest = Math.Max(largest, v);
            }
            maskPixels[i] = mask;
        }
        int classes = classCount ?? Math.Max(2, largest + 1);
        var dataset = ImageDataset.FromByteImages(pixels, s, new int[images.Count], classes, null, Path.GetFileName(Path.TrimEndingDirectorySeparator(root)));
        return dataset.WithMasks(maskPixels, classes, ignoreIndex, classNames);
    }

    /// <summary>Decodes a mask PNG (one 8-bit channel) to H×W class indices, resized by nearest neighbour when its size differs.</summary>
    /// <exception cref="SecateurException">BadFile when the file does not decode or has more than one channel (a colour or palette mask).</exception>
    public static byte[] DecodeMask(string path, int height, int width)
    {
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(File.ReadAllBytes(path), ColorComponents.Grey);
        }
        catch (Exception e) when (e is not SecateurException and not OutOfMemoryException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"cannot decode mask '{path}': {e.Message}", e);
        }
        // A palette or colour PNG would be turned into grey levels, not class indices: refuse it.
        if (image.SourceComp is not (ColorComponents.Grey or ColorComponents.GreyAlpha))
            throw new SecateurException(ErrorCode.BadFile, $"mask '{path}' has {image.SourceComp} pixels; a mask is an 8-bit greyscale PNG whose values are class indices", ParameterNames.Data);
        if (image.Height == height && image.Width == width) return image.Data;
        var resized = new byte[height * width];
        for (int y = 0; y < height; y++)
        {
            int sy = Math.Min(image.Height - 1, (int)((y + 0.5) * image.Height / height));
            for (int x = 0; x < width; x++)
                resized[y * width + x] = image.Data[sy * image.Width + Math.Min(image.Width - 1, (int)((x + 0.5) * image.Width / width))];
        }
        return resized;
    }

    private static IReadOnlyList<string>? ReadClassNames(string dir)
    {
        var path = Path.Combine(dir, ClassesFile);
        if (!File.Exists(path)) return null;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (names.Count < 2 || names.Count > 255)
            throw new SecateurException(ErrorCode.BadFile, $"'{path}' names {names.Count.ToString(CultureInfo.InvariantCulture)} classes; a segmentation set has 2-255 (one name per line, background first)", ParameterNames.Data);
        return names;
    }

    private static ImageShape NativeShape(string path)
    {
        try
        {
            var image = ImageResult.FromMemory(File.ReadAllBytes(path), ColorComponents.Default);
            return new ImageShape(image.SourceComp is ColorComponents.Grey or ColorComponents.GreyAlpha ? 1 : 3, image.Height, image.Width);
        }
        catch (Exception e) when (e is not SecateurException and not OutOfMemoryException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"cannot decode image '{path}': {e.Message}", e);
        }
    }
}
