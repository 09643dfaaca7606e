using Secateur.Data;
using static Secateur.Tests.Data.DataTestHelpers;

namespace Secateur.Tests.Data;

public sealed class IdxTests : IDisposable
{
    private const int N = 5, H = 3, W = 4;
    private static readonly string[] s_names = ["a", "b", "c"];

    private readonly TempDir _dir = new();
    private readonly byte[] _pixels = Bytes(N * H * W, seed: 1);
    private readonly byte[] _labels = [2, 0, 1, 1, 0];

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadImagesAndLabels_RoundTrip(bool gzip)
    {
        var ext = gzip ? ".gz" : "";
        var images = _dir.Write(Maybe(IdxImages(N, H, W, _pixels), gzip), "images-idx3-ubyte" + ext);
        var labels = _dir.Write(Maybe(IdxLabels(_labels), gzip), "labels-idx1-ubyte" + ext);

        var (pixels, n, h, w) = Idx.ReadImages(images);
        (n, h, w).ShouldBe((N, H, W));
        pixels.ShouldBe(_pixels);
        Idx.ReadLabels(labels).ShouldBe(_labels);

        var data = Idx.Load(images, labels, 3, s_names, "synthetic");
        data.Count.ShouldBe(N);
        data.Shape.ShouldBe(new ImageShape(1, H, W));
        data.ClassCount.ShouldBe(3);
        data.ClassNames.ShouldBe(s_names);
        data.Name.ShouldBe("synthetic");
        data.Labels.ShouldBe([2, 0, 1, 1, 0]);
        AllBytes(data).ShouldBe(_pixels);
        data.GetImage(1)[0].ShouldBe(_pixels[H * W] / 255f);
    }

    [Fact]
    public void EmptyImageFile_IsValid()
    {
        var images = _dir.Write(IdxImages(0, 28, 28, []), "empty-images");
        var (pixels, n, _, _) = Idx.ReadImages(images);
        n.ShouldBe(0);
        pixels.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedImageFile_IsBadFileNamingIt(bool gzip)
    {
        var full = IdxImages(N, H, W, _pixels);
        var path = _dir.Write(Maybe(full[..^3], gzip), "truncated-images-idx3-ubyte");
        var labels = _dir.Write(IdxLabels(_labels), "labels");

        ShouldBeBadFile(() => Idx.ReadImages(path), path).Message.ShouldContain("truncated");
        ShouldBeBadFile(() => Idx.Load(path, labels, 3, null, "x"), path);
    }

    [Fact]
    public void ImageHeaderCutShort_IsBadFileNamingIt()
    {
        var path = _dir.Write(IdxImages(N, H, W, _pixels)[..10], "short-images");
        ShouldBeBadFile(() => Idx.ReadImages(path), path);
    }

    [Fact]
    public void ExtraBytesAfterImages_IsBadFileNamingIt()
    {
        var path = _dir.Write([.. IdxImages(N, H, W, _pixels), 0], "long-images");
        ShouldBeBadFile(() => Idx.ReadImages(path), path);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedLabelFile_IsBadFileNamingIt(bool gzip)
    {
        var images = _dir.Write(IdxImages(N, H, W, _pixels), "images");
        var path = _dir.Write(Maybe(IdxLabels(_labels)[..^1], gzip), "truncated-labels-idx1-ubyte");

        ShouldBeBadFile(() => Idx.ReadLabels(path), path).Message.ShouldContain("truncated");
        ShouldBeBadFile(() => Idx.Load(images, path, 3, null, "x"), path);
    }

    [Fact]
    public void BadImageMagic_IsBadFileNamingIt()
    {
        // A label file passed as the image file.
        var path = _dir.Write(IdxImages(N, H, W, _pixels, magic: 0x00000801), "wrong-magic-images");
        ShouldBeBadFile(() => Idx.ReadImages(path), path).Message.ShouldContain("magic");
    }

    [Fact]
    public void BadLabelMagic_IsBadFileNamingIt()
    {
        var path = _dir.Write(IdxLabels(_labels, magic: 0x00000803), "wrong-magic-labels");
        ShouldBeBadFile(() => Idx.ReadLabels(path), path).Message.ShouldContain("magic");
    }

    [Fact]
    public void LabelAndImageCountMismatch_IsBadFileNamingBoth()
    {
        var images = _dir.Write(IdxImages(N, H, W, _pixels), "five-images");
        var labels = _dir.Write(IdxLabels([0, 1, 2, 0]), "four-labels");

        var e = ShouldBeBadFile(() => Idx.Load(images, labels, 3, null, "x"), labels);
        e.Message.ShouldContain("five-images");
    }

    [Fact]
    public void LabelNotAClass_IsBadFileNamingIt()
    {
        var images = _dir.Write(IdxImages(N, H, W, _pixels), "images");
        var labels = _dir.Write(IdxLabels([0, 1, 3, 0, 1]), "labels-with-3");

        ShouldBeBadFile(() => Idx.Load(images, labels, 3, null, "x"), labels).Message.ShouldContain("label 3");
    }

    [Fact]
    public void CorruptGzip_IsBadFileNamingIt()
    {
        // Gzip magic followed by garbage.
        var path = _dir.Write([0x1f, 0x8b, .. Bytes(100, seed: 2)], "corrupt-images-idx3-ubyte.gz");
        ShouldBeBadFile(() => Idx.ReadImages(path), path).Message.ShouldContain("gzip");
    }

    [Fact]
    public void CorruptGzipBody_IsBadFileNamingIt()
    {
        var gz = Gzip(IdxImages(N, H, W, _pixels));
        for (int i = 12; i < gz.Length - 8; i++) gz[i] ^= 0x5a;
        var path = _dir.Write(gz, "scrambled-images-idx3-ubyte.gz");
        ShouldBeBadFile(() => Idx.ReadImages(path), path);
    }

    [Fact]
    public void TruncatedGzip_IsBadFileNamingIt()
    {
        var gz = Gzip(IdxImages(N, H, W, _pixels));
        var path = _dir.Write(gz[..(gz.Length / 2)], "cut-images-idx3-ubyte.gz");
        ShouldBeBadFile(() => Idx.ReadImages(path), path);
    }

    [Fact]
    public void MissingFile_IsBadFileNamingIt()
    {
        var path = Path.Combine(_dir.Path, "no-such-file");
        ShouldBeBadFile(() => Idx.ReadImages(path), path);
    }

    private static byte[] Maybe(byte[] data, bool gzip) => gzip ? Gzip(data) : data;
}
