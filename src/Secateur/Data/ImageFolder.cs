using StbImageSharp;

namespace Secateur.Data;

/// <summary>
/// Images in class folders: <c>root/&lt;class&gt;/&lt;image&gt;</c> (PNG, JPEG, BMP, TGA, GIF, PSD), decoded with
/// StbImageSharp, resized bilinearly to a common size. Classes are the sub-folders sorted by name.
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
    public static ImageDataset Load(string root, int channels, int height, int width, IReadOnlyList<string>? classNames = null)
    {
        if (channels is not (1 or 3)) throw new SecateurException(ErrorCode.BadArgument, $"image folders load 1 or 3 channels, not {channels}");
        if (!Directory.Exists(root)) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' does not exist");
        var classes = classNames ?? Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (classes.Count == 0) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' has no class sub-folders");
        var shape = new ImageShape(channels, height, width);
        var images = new List<ReadOnlyMemory<byte>>();
        var labels = new List<int>();
        for (int c = 0; c < classes.Count; c++)
        {
            var dir = Path.Combine(root, classes[c]);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal))
            {
                images.Add(Decode(file, shape));
                labels.Add(c);
            }
        }
        if (images.Count == 0) throw new SecateurException(ErrorCode.BadFile, $"image folder '{root}' has no images ({string.Join(", ", Extensions)})");
        return ImageDataset.FromByteImages([.. images], shape, [.. labels], classes.Count, classes, Path.GetFileName(Path.TrimEndingDirectorySeparator(root)));
    }

    /// <summary>Decodes one image file to CHW bytes of <paramref name="shape"/>.</summary>
    public static byte[] Decode(string path, ImageShape shape)
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
        float sy = (float)image.Height / shape.Height, sx = (float)image.Width / shape.Width;
        for (int y = 0; y < shape.Height; y++)
        {
            // Bilinear sampling at pixel centres (identity when the sizes match).
            float fy = Math.Clamp((y + 0.5f) * sy - 0.5f, 0, image.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, image.Height - 1);
            float wy = fy - y0;
            for (int x = 0; x < shape.Width; x++)
            {
                float fx = Math.Clamp((x + 0.5f) * sx - 0.5f, 0, image.Width - 1);
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
