using Secateur.Data;
using StbImageWriteSharp;
using static Secateur.Tests.Data.DataTestHelpers;

namespace Secateur.Tests.Data;

public sealed class ImageFolderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Writes a PNG of HWC bytes (<paramref name="channels"/> 1 or 3).</summary>
    private string WritePng(byte[] hwc, int width, int height, int channels, params string[] parts)
    {
        var path = _dir.File(parts);
        using var stream = File.Create(path);
        new ImageWriter().WritePng(hwc, width, height, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue, stream);
        return path;
    }

    /// <summary>HWC pixels with a value per (image, y, x, channel).</summary>
    private static byte[] Hwc(int id, int h, int w, int c)
    {
        var data = new byte[h * w * c];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++)
                    data[(y * w + x) * c + ch] = (byte)(id * 50 + y * 12 + x * 3 + ch);
        return data;
    }

    private static byte[] ToChw(byte[] hwc, int h, int w, int c)
    {
        var chw = new byte[hwc.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++)
                    chw[ch * h * w + y * w + x] = hwc[(y * w + x) * c + ch];
        return chw;
    }

    /// <summary>Class folders "zebra" (images 0, 1) and "ant" (image 2), written with <paramref name="channels"/> channels.</summary>
    private void WriteTwoClasses(string root, int channels, int size = 3)
    {
        WritePng(Hwc(0, size, size, channels), size, size, channels, root, "zebra", "0.png");
        WritePng(Hwc(1, size, size, channels), size, size, channels, root, "zebra", "1.png");
        WritePng(Hwc(2, size, size, channels), size, size, channels, root, "ant", "2.png");
        File.WriteAllText(_dir.File(root, "ant", "notes.txt"), "not an image"); // ignored
    }

    [Fact]
    public void Load_Grey_SortsClassesAndKeepsPixels()
    {
        WriteTwoClasses("root", channels: 1);

        var data = ImageFolder.Load(Path.Combine(_dir.Path, "root"), channels: 1, height: 3, width: 3);

        data.ClassNames.ShouldBe(["ant", "zebra"]);
        data.ClassCount.ShouldBe(2);
        data.Count.ShouldBe(3);
        data.Shape.ShouldBe(new ImageShape(1, 3, 3));
        data.Labels.ShouldBe([0, 1, 1]);
        data.Name.ShouldBe("root");
        data.GetImageBytes(0).ToArray().ShouldBe(Hwc(2, 3, 3, 1));
        data.GetImageBytes(1).ToArray().ShouldBe(Hwc(0, 3, 3, 1));
        data.GetImageBytes(2).ToArray().ShouldBe(Hwc(1, 3, 3, 1));
    }

    [Fact]
    public void Load_Rgb_IsChw()
    {
        WriteTwoClasses("root", channels: 3);

        var data = ImageFolder.Load(Path.Combine(_dir.Path, "root"), channels: 3, height: 3, width: 3);

        data.Shape.ShouldBe(new ImageShape(3, 3, 3));
        data.Labels.ShouldBe([0, 1, 1]);
        data.GetImageBytes(0).ToArray().ShouldBe(ToChw(Hwc(2, 3, 3, 3), 3, 3, 3));
        data.GetImageBytes(2).ToArray().ShouldBe(ToChw(Hwc(1, 3, 3, 3), 3, 3, 3));
    }

    [Fact]
    public void Load_RgbFilesAsGrey_GivesOneChannel()
    {
        WriteTwoClasses("root", channels: 3);

        var data = ImageFolder.Load(Path.Combine(_dir.Path, "root"), channels: 1, height: 3, width: 3);

        data.Shape.ShouldBe(new ImageShape(1, 3, 3));
        data.Count.ShouldBe(3);
    }

    [Fact]
    public void Load_ResizesFourByFourToTwoByTwo_ByAveragingBlocks()
    {
        var hwc = Hwc(1, 4, 4, 1);
        WritePng(hwc, 4, 4, 1, "root", "only", "big.png");

        var data = ImageFolder.Load(Path.Combine(_dir.Path, "root"), channels: 1, height: 2, width: 2);

        data.Shape.ShouldBe(new ImageShape(1, 2, 2));
        var expected = new byte[4];
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
            {
                // Bilinear at the pixel centre of a halving = mean of the 2×2 block.
                int sum = hwc[2 * y * 4 + 2 * x] + hwc[2 * y * 4 + 2 * x + 1] + hwc[(2 * y + 1) * 4 + 2 * x] + hwc[(2 * y + 1) * 4 + 2 * x + 1];
                expected[y * 2 + x] = (byte)Math.Round(sum / 4.0, MidpointRounding.ToEven);
            }
        data.GetImageBytes(0).ToArray().ShouldBe(expected);
    }

    [Fact]
    public void Load_UndecodableImage_IsBadFileNamingIt()
    {
        WriteTwoClasses("root", channels: 1);
        var path = _dir.Write(Bytes(64, seed: 5), "root", "zebra", "broken.png");

        ShouldBeBadFile(() => ImageFolder.Load(Path.Combine(_dir.Path, "root"), 1, 3, 3), path);
    }

    [Fact]
    public void Load_TruncatedPng_IsBadFileNamingIt()
    {
        WriteTwoClasses("root", channels: 3, size: 8);
        var path = Path.Combine(_dir.Path, "root", "ant", "2.png");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        ShouldBeBadFile(() => ImageFolder.Load(Path.Combine(_dir.Path, "root"), 3, 8, 8), path);
    }

    [Fact]
    public void Load_BadArguments()
    {
        Should.Throw<SecateurException>(() => ImageFolder.Load(_dir.Path, 2, 3, 3)).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => ImageFolder.Load(Path.Combine(_dir.Path, "missing"), 1, 3, 3)).Code.ShouldBe(ErrorCode.BadFile);
        Should.Throw<SecateurException>(() => ImageFolder.Load(_dir.Path, 1, 3, 3)).Code.ShouldBe(ErrorCode.BadFile); // no class folders
    }

    [Fact]
    public void Resolve_a_test_folder_with_a_class_the_training_folder_lacks_is_refused_with_counts()
    {
        WritePng(Hwc(0, 4, 4, 3), 4, 4, 3, "ds", "train", "cat", "a.png");
        WritePng(Hwc(1, 4, 4, 3), 4, 4, 3, "ds", "train", "dog", "a.png");
        WritePng(Hwc(3, 4, 4, 3), 4, 4, 3, "ds", "test", "cat", "a.png");
        WritePng(Hwc(4, 4, 4, 3), 4, 4, 3, "ds", "test", "fox", "a.png");
        WritePng(Hwc(5, 4, 4, 3), 4, 4, 3, "ds", "test", "fox", "b.png");

        var e = Should.Throw<SecateurException>(() => DataSource.Resolve("folder:" + Path.Combine(_dir.Path, "ds"), imageShape: new ImageShape(3, 4, 4)));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldContain("'fox': 2 files");
    }

    [Fact]
    public void One_class_data_is_refused_and_more_outputs_than_classes_warn()
    {
        WritePng(Hwc(0, 28, 28, 3), 28, 28, 3, "one", "only", "a.png");
        WritePng(Hwc(1, 28, 28, 3), 28, 28, 3, "one", "only", "b.png");
        var one = DataSource.Resolve("folder:" + Path.Combine(_dir.Path, "one"), imageShape: new ImageShape(3, 28, 28));
        var model = Secateur.Models.ModelZoo.Create("lenet5", new Secateur.Models.ZooOptions(3, 28, 28, 1));
        Should.Throw<SecateurException>(() => Secateur.Cli.Commands.TrainingCliOptions.CheckCompatible(model, one)).Message.ShouldContain("one class");

        WritePng(Hwc(0, 28, 28, 3), 28, 28, 3, "three", "a", "a.png");
        WritePng(Hwc(1, 28, 28, 3), 28, 28, 3, "three", "b", "a.png");
        WritePng(Hwc(2, 28, 28, 3), 28, 28, 3, "three", "c", "a.png");
        var three = DataSource.Resolve("folder:" + Path.Combine(_dir.Path, "three"), imageShape: new ImageShape(3, 28, 28));
        var ten = Secateur.Models.ModelZoo.Create("lenet5", new Secateur.Models.ZooOptions(3, 28, 28, 10));
        var warnings = new StringWriter();
        Secateur.Cli.Commands.TrainingCliOptions.CheckCompatible(ten, three, warnings);
        warnings.ToString().ShouldContain("has 10 outputs but three has 3 classes");
    }

    [Fact]
    public void Resolve_FolderWithTrainAndTest_UsesTheTrainClassList()
    {
        WritePng(Hwc(0, 4, 4, 3), 4, 4, 3, "ds", "train", "cat", "a.png");
        WritePng(Hwc(1, 4, 4, 3), 4, 4, 3, "ds", "train", "dog", "a.png");
        WritePng(Hwc(2, 4, 4, 3), 4, 4, 3, "ds", "train", "eel", "a.png");
        WritePng(Hwc(3, 4, 4, 3), 4, 4, 3, "ds", "test", "cat", "a.png");
        WritePng(Hwc(4, 4, 4, 3), 4, 4, 3, "ds", "test", "eel", "a.png"); // no "dog" in test

        var set = DataSource.Resolve("folder:" + Path.Combine(_dir.Path, "ds"), imageShape: new ImageShape(3, 4, 4));

        set.Name.ShouldBe("ds");
        set.Train.ClassNames.ShouldBe(["cat", "dog", "eel"]);
        set.Test.ClassNames.ShouldBe(["cat", "dog", "eel"]);
        set.Test.ClassCount.ShouldBe(3);
        set.Train.Labels.ShouldBe([0, 1, 2]);
        set.Test.Labels.ShouldBe([0, 2]);
        set.Test.GetImageBytes(1).ToArray().ShouldBe(ToChw(Hwc(4, 4, 4, 3), 4, 4, 3));
        set.Mean.Length.ShouldBe(3);
        set.Std.Length.ShouldBe(3);
        set.Std.ShouldAllBe(s => s > 0);
    }

    [Fact]
    public void Resolve_SingleFolder_HoldsOutAStratifiedTestSplit()
    {
        for (int i = 0; i < 10; i++)
        {
            WritePng(Hwc(i % 5, 2, 2, 1), 2, 2, 1, "flat", "a", $"{i}.png");
            WritePng(Hwc(i % 5, 2, 2, 1), 2, 2, 1, "flat", "b", $"{i}.png");
        }

        var set = DataSource.Resolve(Path.Combine(_dir.Path, "flat"), imageShape: new ImageShape(1, 2, 2));

        set.Train.Count.ShouldBe(18);
        set.Test.Count.ShouldBe(2);
        set.Test.CountPerClass().ShouldBe([1, 1]);
    }
}
