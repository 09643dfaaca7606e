using Secateur.Data;
using Secateur.Graph;
using StbImageWriteSharp;

namespace Secateur.Tests.Data;

/// <summary>Images directly in a folder are an unlabelled set; any labelled set can drop its training labels.</summary>
public sealed class UnlabelledDataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A 56×28 grey image: black left and right quarters, white middle half.</summary>
    internal static void WriteWideImages(string dir, int count)
    {
        Directory.CreateDirectory(dir);
        var hw = new byte[28 * 56];
        for (int y = 0; y < 28; y++)
            for (int x = 14; x < 42; x++)
                hw[y * 56 + x] = 255;
        for (int i = 0; i < count; i++)
        {
            using var stream = File.Create(Path.Combine(dir, $"{i:00}.png"));
            new ImageWriter().WritePng(hw, 56, 28, ColorComponents.Grey, stream);
        }
    }

    [Fact]
    public void A_flat_folder_loads_as_unlabelled_images_centre_cropped_to_the_model_input()
    {
        var dir = Path.Combine(_dir.Path, "flat");
        WriteWideImages(dir, 20);
        File.WriteAllText(Path.Combine(dir, "readme.txt"), "not an image");
        var crop = InputPreprocessing.FashionMnist with { Resize = new ResizePolicy(ResizeMode.CenterCrop, 1f) };
        var set = DataSource.Resolve("folder:" + dir, new DataSourceOptions { ImageShape = new ImageShape(1, 28, 28), Preprocessing = crop });
        set.TrainLabelled.ShouldBeFalse();
        set.TestLabelled.ShouldBeFalse();
        (set.Train.Count + set.Test.Count).ShouldBe(20);
        set.Test.Count.ShouldBe(2); // 10% held out to measure agreement on
        set.Train.Shape.ShouldBe(new ImageShape(1, 28, 28));
        // The centre 28×28 of the 56×28 image is its white half: nothing of the black sides is left.
        set.Train.GetImageBytes(0).ToArray().ShouldAllBe(b => b == 255);
        // Stretched instead, the black sides come back.
        var stretched = DataSource.Resolve("folder:" + dir, new DataSourceOptions { ImageShape = new ImageShape(1, 28, 28), Preprocessing = InputPreprocessing.FashionMnist with { Resize = ResizePolicy.Stretch } });
        stretched.Train.GetImageBytes(0).ToArray().ShouldContain((byte)0);
        // A directory given without the folder: prefix is recognised too.
        DataSource.Resolve(dir, new DataSourceOptions { ImageShape = new ImageShape(1, 28, 28) }).TrainLabelled.ShouldBeFalse();
    }

    [Fact]
    public void A_labelled_set_used_label_free_drops_only_its_training_labels()
    {
        var set = DataSource.Resolve("embedded", new DataSourceOptions { LabelFree = true });
        set.TrainLabelled.ShouldBeFalse();
        set.Train.Labels.ShouldAllBe(l => l == 0);
        set.Train.ClassCount.ShouldBe(1);
        set.TestLabelled.ShouldBeTrue(); // the test labels still score the result
        set.Train.Subset([0, 1]).IsLabelled.ShouldBeFalse();
        set.Train.Split(0.1, 0).Validation.IsLabelled.ShouldBeFalse();
    }
}
