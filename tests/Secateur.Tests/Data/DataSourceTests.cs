using Secateur.Data;
using Secateur.Graph;
using static Secateur.Tests.Data.DataTestHelpers;

namespace Secateur.Tests.Data;

public sealed class DataSourceTests
{
    [Theory]
    [InlineData("embedded")]
    [InlineData("fashion-mnist-mini")]
    [InlineData("EMBEDDED")]
    public void Resolve_Embedded(string spec)
    {
        var set = DataSource.Resolve(spec);

        set.Name.ShouldBe("fashion-mnist-mini");
        set.Train.Count.ShouldBe(3000);
        set.Test.Count.ShouldBe(1000);
        set.Mean.ShouldBe([FashionMnist.Mean]);
        set.Std.ShouldBe([FashionMnist.Std]);
        set.CropPadding.ShouldBe(2);

        var loader = set.TrainLoader(batchSize: 500, seed: 1);
        loader.Shuffle.ShouldBeTrue();
        loader.BatchesPerEpoch.ShouldBe(6);
        set.TestLoader().Shuffle.ShouldBeFalse();
    }

    [Theory]
    [InlineData("imagenet")]
    [InlineData("nope:somewhere")]
    public void Resolve_UnknownSpec_IsBadArgumentListingTheForms(string spec)
    {
        var e = Should.Throw<SecateurException>(() => DataSource.Resolve(spec));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldContain(spec);
        e.Message.ShouldContain(DataSource.Forms);
    }

    [Theory]
    [InlineData("cifar10")]
    [InlineData("cifar100")]
    [InlineData("mnist")]
    [InlineData("folder")]
    public void Resolve_DirectoryFormWithoutDirectory_IsBadArgument(string spec)
    {
        var e = Should.Throw<SecateurException>(() => DataSource.Resolve(spec));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldContain($"{spec}:DIR");
        e.Parameter.ShouldBe(ParameterNames.Data);
    }

    [Fact]
    public void Resolve_MnistDirectory_FeedsUnitRangeAndComputesStatisticsOnlyWhenAsked()
    {
        using var dir = new TempDir();
        // Every train pixel 51 (0.2) in two images, with labels 0 and 1.
        dir.Write(Gzip(IdxImages(2, 28, 28, Enumerable.Repeat((byte)51, 2 * 28 * 28).ToArray())), "train-images-idx3-ubyte.gz");
        dir.Write(IdxLabels([0, 1]), "train-labels-idx1-ubyte");
        dir.Write(IdxImages(1, 28, 28, new byte[28 * 28]), "t10k-images-idx3-ubyte");
        dir.Write(IdxLabels([1]), "t10k-labels-idx1-ubyte");

        var set = DataSource.Resolve("mnist:" + dir.Path);

        set.Name.ShouldBe("mnist");
        set.Train.Count.ShouldBe(2);
        set.Test.Count.ShouldBe(1);
        // Issue 17: the content is not Fashion-MNIST's, and nothing says how a model expects it: [0, 1], not its own statistics.
        set.Preprocessing.ShouldBe(InputPreprocessing.Unit);
        set.Mean.ShouldBe([0f]);
        set.Std.ShouldBe([1f]);

        var fromData = DataSource.Resolve("mnist:" + dir.Path, new DataSourceOptions { StatisticsFromData = true });
        fromData.Mean[0].ShouldBe(0.2f, 1e-6f);
        fromData.Std[0].ShouldBeLessThan(1e-3f);
        fromData.Std[0].ShouldBeGreaterThan(0f);

        var detected = DataSource.Resolve(dir.Path);
        detected.Name.ShouldBe(Path.GetFileName(dir.Path));
        detected.Train.Count.ShouldBe(2);

        DataSource.Resolve("fashion-mnist", dataDir: dir.Path).Mean.ShouldBe([FashionMnist.Mean]);
    }

    [Fact]
    public void Resolve_EmptyDirectory_IsBadFile()
    {
        using var dir = new TempDir();
        Should.Throw<SecateurException>(() => DataSource.Resolve(dir.Path)).Code.ShouldBe(ErrorCode.BadFile);
    }

    [Fact]
    public void Statistics_PerChannel()
    {
        // Two 1×2 RGB images: red 0 and 255 (mean 0.5, std 0.5), green all 51, blue 0/51/102/153.
        byte[] pixels = [0, 0, 51, 51, 0, 51, 255, 255, 51, 51, 102, 153];
        var data = ImageDataset.FromBytes(pixels, new ImageShape(3, 1, 2), [0, 0], 1);

        var (mean, std) = DataSource.Statistics(data);

        mean[0].ShouldBe(0.5f, 1e-6f);
        std[0].ShouldBe(0.5f, 1e-6f);
        mean[1].ShouldBe(0.2f, 1e-6f);
        std[1].ShouldBeLessThan(1e-3f);
        mean[2].ShouldBe(0.3f, 1e-6f);
        std[2].ShouldBe(MathF.Sqrt(0.05f), 1e-5f);
    }
}
