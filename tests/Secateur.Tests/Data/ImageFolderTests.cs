using Secateur.Data;
using Secateur.Graph;
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
        // Issue 17: no statistics computed from the user's folder unless asked; [0, 1] pixels.
        set.Preprocessing.ShouldBe(InputPreprocessing.Unit);
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

    /// <summary>A graph with only an input (what <see cref="DataSourceOptions.ForModel"/> reads).</summary>
    private static ModelGraph InputOnly(params long[] dims)
    {
        var g = new ModelGraph("input-only");
        g.Inputs.Add(ValueInfo.Batched("x", dims));
        return g;
    }

    [Fact]
    public void Resolve_ForModel_DecodesToTheModelsInputSize_NotTheDefault()
    {
        // Issue 17's case: 64×64 RGB images, a 3×64×64 model; before, the folder became 3×32×32 whatever the model.
        for (int i = 0; i < 4; i++)
        {
            WritePng(Hwc(i, 64, 64, 3), 64, 64, 3, "imgs", "a", $"{i}.png");
            WritePng(Hwc(i + 1, 64, 64, 3), 64, 64, 3, "imgs", "b", $"{i}.png");
        }
        var root = Path.Combine(_dir.Path, "imgs");

        var set = DataSource.Resolve("folder:" + root, DataSourceOptions.ForModel(InputOnly(3, 64, 64)));

        set.Train.Shape.ShouldBe(new ImageShape(3, 64, 64));
        set.Test.Shape.ShouldBe(new ImageShape(3, 64, 64));
        set.Train.GetImageBytes(0).ToArray().ShouldBe(ToChw(Hwc(0, 64, 64, 3), 64, 64, 3)); // same size: pixels untouched
        DataSource.Resolve("folder:" + root).Train.Shape.ShouldBe(new ImageShape(3, 32, 32)); // no model: the old default

        // An NHWC model (N×64×64×3) that records its layout is read as 3×64×64 images, batched H, W, C.
        var nhwc = InputOnly(64, 64, 3);
        nhwc.Preprocessing = InputPreprocessing.Unit with { Layout = InputLayout.Nhwc };
        var options = DataSourceOptions.ForModel(nhwc);
        options.ImageShape.ShouldBe(new ImageShape(3, 64, 64));
        var nhwcSet = DataSource.Resolve("folder:" + root, options);
        nhwcSet.Preprocessing.Layout.ShouldBe(InputLayout.Nhwc);
        nhwcSet.Loader(nhwcSet.Train).Epoch(0).First().SampleShape.ShouldBe([64L, 64L, 3L]);
    }

    [Fact]
    public void CenterCrop_KeepsTheMiddleOfANonSquareImage_WhereStretchSquashesIt()
    {
        // 4 rows × 8 columns: two black columns, four white, two black. The centre crop of a 4×4 input is all white.
        var hwc = new byte[4 * 8];
        for (int y = 0; y < 4; y++)
            for (int x = 2; x < 6; x++)
                hwc[y * 8 + x] = 255;
        var path = WritePng(hwc, 8, 4, 1, "wide", "only", "wide.png");
        var shape = new ImageShape(1, 4, 4);

        ImageFolder.Decode(path, shape, new ResizePolicy(ResizeMode.CenterCrop)).ShouldAllBe(v => v == 255);
        var stretched = ImageFolder.Decode(path, shape, ResizePolicy.Stretch);
        stretched[0].ShouldBe((byte)0);   // column 0 of the squashed image samples source columns 0–1: black
        stretched[1].ShouldBe((byte)255); // column 1 samples source columns 2–3: white

        var data = ImageFolder.Load(Path.Combine(_dir.Path, "wide"), shape, new ResizePolicy(ResizeMode.CenterCrop));
        data.GetImageBytes(0).ToArray().ShouldAllBe(v => v == 255);
    }

    [Fact]
    public void CenterCrop_Fraction_CutsThatShareOfTheShorterSide()
    {
        // An 8×8 image fed to a 4×4 input keeping 0.5 of the shorter side: the exact centre 4×4 pixels, unscaled
        // (ImageNet's 0.875 is the same rule: 224 out of 256).
        var hwc = Hwc(0, 8, 8, 1);
        var path = WritePng(hwc, 8, 8, 1, "sq", "only", "sq.png");

        var crop = ImageFolder.Decode(path, new ImageShape(1, 4, 4), new ResizePolicy(ResizeMode.CenterCrop, 0.5f));

        var expected = new byte[16];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                expected[y * 4 + x] = hwc[(y + 2) * 8 + x + 2];
        crop.ShouldBe(expected);
    }

    [Fact]
    public void Resolve_FolderWithTheModelsResizePolicy_CropsTheCentre()
    {
        var hwc = new byte[4 * 8 * 3];
        for (int y = 0; y < 4; y++)
            for (int x = 2; x < 6; x++)
                for (int c = 0; c < 3; c++)
                    hwc[(y * 8 + x) * 3 + c] = 200;
        for (int i = 0; i < 10; i++)
        {
            WritePng(hwc, 8, 4, 3, "wide", "a", $"{i}.png");
            WritePng(hwc, 8, 4, 3, "wide", "b", $"{i}.png");
        }
        var model = InputOnly(3, 4, 4);
        model.Preprocessing = InputPreprocessing.ImageNet with { Resize = new ResizePolicy(ResizeMode.CenterCrop) };

        var set = DataSource.Resolve(Path.Combine(_dir.Path, "wide"), DataSourceOptions.ForModel(model));

        set.Preprocessing.ShouldBe(model.Preprocessing);
        set.Train.GetImageBytes(0).ToArray().ShouldAllBe(v => v == 200);
    }
}
