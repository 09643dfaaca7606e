using Secateur.Data;
using static Secateur.Tests.Data.DataTestHelpers;

namespace Secateur.Tests.Data;

public sealed class FashionMnistTests
{
    [Fact]
    public void Load_EmptyDirectory_IsBadFileTellingHowToGetTheData()
    {
        using var dir = new TempDir();

        var e = Should.Throw<SecateurException>(() => FashionMnist.Load(dir.Path, train: true));

        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain("train-images-idx3-ubyte");
        e.Message.ShouldContain(dir.Path);
        e.Message.ShouldContain("apt-get install dataset-fashion-mnist");
        e.Message.ShouldContain("directory holding the four IDX files");
        e.Parameter.ShouldBe(ParameterNames.DataDirectory);
    }

    [Theory]
    [InlineData(true, "train")]
    [InlineData(false, "t10k")]
    public void Load_SyntheticDirectory_ReadsTheSplit(bool train, string prefix)
    {
        using var dir = new TempDir();
        var pixels = Bytes(4 * 28 * 28, seed: 3);
        dir.Write(Gzip(IdxImages(4, 28, 28, pixels)), $"{prefix}-images-idx3-ubyte.gz");
        dir.Write(IdxLabels([9, 0, 5, 9]), $"{prefix}-labels-idx1-ubyte");

        var data = FashionMnist.Load(dir.Path, train);

        data.Count.ShouldBe(4);
        data.Shape.ShouldBe(new ImageShape(1, 28, 28));
        data.Labels.ShouldBe([9, 0, 5, 9]);
        data.ClassName(9).ShouldBe("Ankle boot");
        AllBytes(data).ShouldBe(pixels);
    }

    [SkippableFact]
    public void Load_DebianPackage_HasTheFullSplits()
    {
        Skip.IfNot(Directory.Exists(FashionMnist.DebianDirectory), $"{FashionMnist.DebianDirectory} is not installed (apt-get install dataset-fashion-mnist)");

        var train = FashionMnist.Load(null, train: true);
        var test = FashionMnist.Load(null, train: false);

        train.Count.ShouldBe(60000);
        test.Count.ShouldBe(10000);
        train.Shape.ShouldBe(new ImageShape(1, 28, 28));
        test.Shape.ShouldBe(new ImageShape(1, 28, 28));
        train.ClassCount.ShouldBe(10);
        // Fashion-MNIST is balanced: 6,000 and 1,000 of each class.
        train.CountPerClass().ShouldAllBe(c => c == 6000);
        test.CountPerClass().ShouldAllBe(c => c == 1000);
    }

    [Fact]
    public void Embedded_HasBalancedSplitsOfGreyImagesInUnitRange()
    {
        var train = EmbeddedFashionMnist.Load(train: true);
        var test = EmbeddedFashionMnist.Load(train: false);

        train.Count.ShouldBe(3000);
        test.Count.ShouldBe(1000);
        train.CountPerClass().ShouldBe(Enumerable.Repeat(300, 10).ToArray());
        test.CountPerClass().ShouldBe(Enumerable.Repeat(100, 10).ToArray());
        foreach (var data in new[] { train, test })
        {
            data.Shape.ShouldBe(new ImageShape(1, 28, 28));
            data.ClassNames.ShouldBe(FashionMnist.ClassNames);
            data.StoresBytes.ShouldBeTrue();
        }

        var image = new float[train.Shape.Size];
        float min = float.MaxValue, max = float.MinValue;
        foreach (var data in new[] { train, test })
            for (int i = 0; i < data.Count; i++)
            {
                data.CopyImage(i, image);
                foreach (var v in image)
                {
                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                }
            }
        min.ShouldBeGreaterThanOrEqualTo(0f);
        max.ShouldBeLessThanOrEqualTo(1f);
        max.ShouldBeGreaterThan(0.5f); // real images, not blanks
    }
}
