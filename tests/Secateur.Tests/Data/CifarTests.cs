using Secateur.Data;
using static Secateur.Tests.Data.DataTestHelpers;

namespace Secateur.Tests.Data;

public sealed class CifarTests : IDisposable
{
    private const int Plane = 32 * 32;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A record whose red plane is all <c>seed</c>, green <c>seed+1</c>, blue <c>seed+2</c>, except pixel 0 of each plane marking the channel.</summary>
    private static byte[] Record(byte[] labelBytes, byte seed)
    {
        var r = new byte[labelBytes.Length + 3 * Plane];
        labelBytes.CopyTo(r, 0);
        for (int c = 0; c < 3; c++)
        {
            r.AsSpan(labelBytes.Length + c * Plane, Plane).Fill((byte)(seed + c));
            r[labelBytes.Length + c * Plane + 1] = (byte)(200 + c); // row 0, column 1
            r[labelBytes.Length + c * Plane + 32] = (byte)(210 + c); // row 1, column 0
        }
        return r;
    }

    private static byte[] Records(params byte[][] records) => records.SelectMany(r => r).ToArray();

    /// <summary>Writes batches 1..5 with two records each (labels b-1 and 9-(b-1), seeds 10·b and 10·b+5) and a 3-record test batch.</summary>
    private void WriteCifar10(string folder)
    {
        for (int b = 1; b <= 5; b++)
            _dir.Write(Records(Record([(byte)(b - 1)], (byte)(10 * b)), Record([(byte)(10 - b)], (byte)(10 * b + 5))), folder, $"data_batch_{b}.bin");
        _dir.Write(Records(Record([3], 100), Record([7], 110), Record([0], 120)), folder, "test_batch.bin");
    }

    [Fact]
    public void Load10_ReadsBatchesInOrderWithChwPixels()
    {
        WriteCifar10("");

        var train = Cifar.Load10(_dir.Path, train: true);
        var test = Cifar.Load10(_dir.Path, train: false);

        train.Count.ShouldBe(10);
        train.Shape.ShouldBe(new ImageShape(3, 32, 32));
        train.ClassCount.ShouldBe(10);
        train.ClassNames.ShouldBe(Cifar.Cifar10Classes);
        train.Labels.ShouldBe([0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
        test.Count.ShouldBe(3);
        test.Labels.ShouldBe([3, 7, 0]);

        for (int i = 0; i < train.Count; i++)
        {
            var seed = 10 * (i / 2 + 1) + 5 * (i % 2);
            var image = train.GetImageBytes(i);
            for (int c = 0; c < 3; c++)
            {
                // First 1,024 bytes red, then green, then blue; each plane row-major.
                image[c * Plane].ShouldBe((byte)(seed + c));
                image[c * Plane + 1].ShouldBe((byte)(200 + c));
                image[c * Plane + 32].ShouldBe((byte)(210 + c));
                image[c * Plane + Plane - 1].ShouldBe((byte)(seed + c));
            }
        }
        test.GetImage(2)[0].ShouldBe(120 / 255f);
        test.GetImage(2)[Plane].ShouldBe(121 / 255f);
    }

    [Fact]
    public void Load10_FindsTheDistributionSubfolder()
    {
        WriteCifar10("cifar-10-batches-bin");

        Cifar.Load10(_dir.Path, train: true).Count.ShouldBe(10);
        var set = DataSource.Resolve("cifar10:" + _dir.Path);
        set.Name.ShouldBe("cifar10");
        set.Test.Count.ShouldBe(3);
        set.Mean.ShouldBe(Cifar.Mean);
        DataSource.Resolve(_dir.Path).Train.Count.ShouldBe(10); // detected from the folder
    }

    [Fact]
    public void Load100_UsesTheFineLabel()
    {
        // Coarse label first, then fine; coarse values are deliberately different from the fine ones.
        _dir.Write(Records(Record([19, 42], 1), Record([3, 99], 2), Record([99, 0], 3)), "train.bin");
        _dir.Write(Records(Record([0, 57], 4)), "test.bin");

        var train = Cifar.Load100(_dir.Path, train: true);
        var test = Cifar.Load100(_dir.Path, train: false);

        train.ClassCount.ShouldBe(100);
        train.Labels.ShouldBe([42, 99, 0]);
        test.Labels.ShouldBe([57]);
        train.GetImageBytes(1)[0].ShouldBe((byte)2);
        train.GetImageBytes(1)[Plane].ShouldBe((byte)3);
        train.GetImageBytes(2)[2 * Plane + 1].ShouldBe((byte)202);
    }

    [Fact]
    public void TruncatedBatch_IsBadFileNamingIt()
    {
        WriteCifar10("");
        var path = Path.Combine(_dir.Path, "data_batch_3.bin");
        var data = File.ReadAllBytes(path);
        File.WriteAllBytes(path, data[..^100]);

        ShouldBeBadFile(() => Cifar.Load10(_dir.Path, train: true), path).Message.ShouldContain("truncated");
        Cifar.Load10(_dir.Path, train: false).Count.ShouldBe(3);
    }

    [Fact]
    public void LabelOutOfRange_IsBadFileNamingIt()
    {
        WriteCifar10("");
        var path = _dir.Write(Records(Record([10], 0)), "test_batch.bin");

        ShouldBeBadFile(() => Cifar.Load10(_dir.Path, train: false), path);
    }

    [Fact]
    public void MissingBatch_IsBadFileNamingIt()
    {
        WriteCifar10("");
        var path = Path.Combine(_dir.Path, "data_batch_5.bin");
        File.Delete(path);

        ShouldBeBadFile(() => Cifar.Load10(_dir.Path, train: true), path);
    }

    [Fact]
    public void EmptyDirectory_IsBadFile()
    {
        Should.Throw<SecateurException>(() => Cifar.Load10(_dir.Path, train: true)).Code.ShouldBe(ErrorCode.BadFile);
        Should.Throw<SecateurException>(() => Cifar.Load100(_dir.Path, train: true)).Code.ShouldBe(ErrorCode.BadFile);
    }
}
