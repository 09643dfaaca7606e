using Secateur.Graph;
using StbImageSharp;

namespace Secateur.Data;

/// <summary>
/// Images in class folders: <c>root/&lt;class&gt;/&lt;image&gt;</c> (PNG, JPEG, BMP, TGA, GIF, PSD), decoded with
/// StbImageSharp, resized bilinearly to a common size (the model's input) by a <see cref="ResizePolicy"/>. Classes are
/// the sub-folders sorted by name.
/// </summary>
public static class ImageFolder
{
    private static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".psd" };

    /// <summary>Loads every image under <paramref name="root"/>.</summary>
    /// <param name="root">Folder with one sub-folder per class.</param>
    /// <param name="channels">1 (grey) or 3 (RGB).</param>
    /// <param name="height">Output height (images of another size are resized).</param>
    /// <param name="width">Output width.</param>
    /// <param name="classNames">When given, the class list to use (so that train and test folders agree).</param>
    public static ImageDataset Load(string root, int channels, int height, int width, IReadOnlyList<string>? classNames = null) =>
        Load(root, new ImageShape(channels, height, width), ResizePolicy.Stretch, classNames);

    /// <summary>Loads every image under <paramref name="root"/>, brought to <paramref name="shape"/> by <paramref name="resize"/>.</summary>
    /// <param name="root">Folder with one sub-folder per class.</param>
    /// <param name="shape">Output shape: 1 (grey) or 3 (RGB) channels, and the model's input height and width.</param>
    /// <param name="resize">Stretch to the size, or keep the aspect ratio and crop the centre.</param>
    /// <param name="classNames">When given, the class list to use (so that train and test folders agree).</param>
    public static ImageDataset Load(string root, ImageShape shape, ResizePolicy resize, IReadOnlyList<string>? classNames = null)
    {
        if (shape.Channels is not (1 or 3)) throw new SecateurException(ErrorCode.BadArgument, $"image folders load 1 or 3 channels, not {shape.Channels}");
        shape.CheckValid(nameof(shape));
        resize.Validated();
        if (!Directory.Exists(root)) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' does not exist");
        var classes = classNames ?? Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (classes.Count == 0) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' has no class sub-folders");
        var images = new List<ReadOnlyMemory<byte>>();
        var labels = new List<int>();
        for (int c = 0; c < classes.Count; c++)
        {
            var dir = Path.Combine(root, classes[c]);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in ImageFiles(dir))
            {
                images.Add(Decode(file, shape, resize));
                labels.Add(c);
            }
        }
        if (images.Count == 0) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' has no images ({string.Join(", ", Extensions)})");
        return ImageDataset.FromByteImages([.. images], shape, [.. labels], classes.Count, classes, Path.GetFileName(Path.TrimEndingDirectorySeparator(root)));
    }

    /// <summary>
    /// Loads the images directly in <paramref name="root"/> (sorted by file name; sub-folders are not read) as an
    /// unlabelled set (<see cref="ImageDataset.IsLabelled"/> false), each brought to <paramref name="shape"/> by
    /// <paramref name="resize"/>: any size goes in, the model's input size comes out.
    /// </summary>
    /// <param name="root">Folder holding image files.</param>
    /// <param name="shape">Output shape: 1 (grey) or 3 (RGB) channels, and the model's input height and width.</param>
    /// <param name="resize">Stretch to the size, or keep the aspect ratio and crop the centre.</param>
    public static ImageDataset LoadUnlabelled(string root, ImageShape shape, ResizePolicy resize)
    {
        if (shape.Channels is not (1 or 3)) throw new SecateurException(ErrorCode.BadArgument, $"image folders load 1 or 3 channels, not {shape.Channels}");
        shape.CheckValid(nameof(shape));
        resize.Validated();
        if (!Directory.Exists(root)) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' does not exist");
        var images = ImageFiles(root).Select(f => (ReadOnlyMemory<byte>)Decode(f, shape, resize)).ToArray();
        if (images.Length == 0) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' has no images ({string.Join(", ", Extensions)})");
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(root));
        return ImageDataset.FromByteImages(images, shape, new int[images.Length], 1, null, name).WithoutLabels();
    }

    /// <summary>True when <paramref name="dir"/> itself holds at least one image file (a flat, unlabelled folder).</summary>
    public static bool HasImages(string dir) => Directory.Exists(dir) && ImageFiles(dir).Any();

    private static IEnumerable<string> ImageFiles(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal);

    /// <summary>Decodes one image file to CHW bytes of <paramref name="shape"/>, stretched to its size.</summary>
    public static byte[] Decode(string path, ImageShape shape) => Decode(path, shape, ResizePolicy.Stretch);

    /// <summary>Decodes one image file to CHW bytes of <paramref name="shape"/>, brought to its size by <paramref name="resize"/>.</summary>
    public static byte[] Decode(string path, ImageShape shape, ResizePolicy resize)
    {
        ImageResult image;
        try
        {
            var bytes = File.ReadAllBytes(path);
            image = ImageResult.FromMemory(bytes, shape.Channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not SecateurException and not OutOfMemoryException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"cannot decode image '{path}': {e.Message}", e);
        }
        int c = shape.Channels;
        var chw = new byte[shape.Size];
        // The virtual resized image (resizedH × resizedW) the output is cut from: the output size itself when
        // stretching; for a centre crop, the source scaled keeping its aspect ratio so that the output covers
        // CropFraction of it, as torchvision's Resize(shorter side) then CenterCrop computes the sizes and offset.
        int resizedH = shape.Height, resizedW = shape.Width, offY = 0, offX = 0;
        if (resize.Mode == ResizeMode.CenterCrop)
        {
            double scale = Math.Max((double)shape.Height / image.Height, (double)shape.Width / image.Width) / resize.CropFraction;
            resizedH = Math.Max(shape.Height, (int)Math.Round(image.Height * scale));
            resizedW = Math.Max(shape.Width, (int)Math.Round(image.Width * scale));
            offY = (int)Math.Round((resizedH - shape.Height) / 2.0);
            offX = (int)Math.Round((resizedW - shape.Width) / 2.0);
        }
        float sy = (float)image.Height / resizedH, sx = (float)image.Width / resizedW;
        for (int y = 0; y < shape.Height; y++)
        {
            // Bilinear sampling at pixel centres (identity when the sizes match).
            float fy = Math.Clamp((y + offY + 0.5f) * sy - 0.5f, 0, image.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, image.Height - 1);
            float wy = fy - y0;
            for (int x = 0; x < shape.Width; x++)
            {
                float fx = Math.Clamp((x + offX + 0.5f) * sx - 0.5f, 0, image.Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, image.Width - 1);
                float wx = fx - x0;
                for (int ch = 0; ch < c; ch++)
                {
                    float a = image.Data[(y0 * image.Width + x0) * c + ch], b = image.Data[(y0 * image.Width + x1) * c + ch];
                    float d = image.Data[(y1 * image.Width + x0) * c + ch], e = image.Data[(y1 * image.Width + x1) * c + ch];
                    float v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
                    chw[ch * shape.PlaneSize + y * shape.Width + x] = (byte)Math.Clamp(MathF.Round(v), 0, 255);
                }
            }
        }
        return chw;
    }
}
