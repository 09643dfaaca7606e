using Secateur.Data;

namespace Secateur.Tests.Data;

public sealed class DataLoaderTests
{
    private const int Count = 103;
    private static readonly ImageShape s_shape = new(2, 6, 6);

    /// <summary>Image i has every pixel i+1 except the last pixel of each plane (0): the index is readable from pixel 0.</summary>
    private static ImageDataset Dataset()
    {
        var pixels = new byte[Count * s_shape.Size];
        for (int i = 0; i < Count; i++)
        {
            pixels.AsSpan(i * s_shape.Size, s_shape.Size).Fill((byte)(i + 1));
            for (int c = 0; c < s_shape.Channels; c++) pixels[i * s_shape.Size + c * s_shape.PlaneSize + s_shape.PlaneSize - 1] = 0;
        }
        var labels = Enumerable.Range(0, Count).Select(i => i % 7).ToArray();
        return ImageDataset.FromBytes(pixels, s_shape, labels, 7, name: "indexed");
    }

    private static IImageTransform[] Augment() => [new PadAndRandomCrop(2), new RandomHorizontalFlip(0.5), new Normalize([0.5f, 0.4f], [0.2f, 0.3f])];

    private static int IndexOf(Batch batch, int i) => (int)MathF.Round(batch.Images[i * s_shape.Size] * 255f) - 1;

    private static void ShouldBeSame(List<Batch> a, List<Batch> b)
    {
        a.Count.ShouldBe(b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            a[i].Count.ShouldBe(b[i].Count);
            a[i].Labels.ShouldBe(b[i].Labels);
            a[i].SampleShape.ShouldBe(b[i].SampleShape);
            a[i].Images.AsSpan().SequenceEqual(b[i].Images).ShouldBeTrue($"batch {i} images differ");
        }
    }

    [Fact]
    public void SameSeed_SameBatches()
    {
        var data = Dataset();
        var a = new DataLoader(data, 16, shuffle: true, seed: 42, transforms: Augment()).Epoch(3).ToList();
        var b = new DataLoader(data, 16, shuffle: true, seed: 42, transforms: Augment()).Epoch(3).ToList();

        ShouldBeSame(a, b);
        a[0].SampleShape.ShouldBe([2L, 6L, 6L]);
    }

    [Fact]
    public void DifferentEpochOrSeed_DifferentOrder()
    {
        var data = Dataset();
        var loader = new DataLoader(data, 16, shuffle: true, seed: 42);

        loader.Order(0).ShouldNotBe(loader.Order(1));
        loader.Order(0).ShouldNotBe(new DataLoader(data, 16, shuffle: true, seed: 43).Order(0));
        loader.Order(0).ShouldNotBe(Enumerable.Range(0, Count).ToArray());
        loader.Order(1).Order().ShouldBe(Enumerable.Range(0, Count));

        var e0 = loader.Epoch(0).SelectMany(b => b.Labels).ToArray();
        var e1 = loader.Epoch(1).SelectMany(b => b.Labels).ToArray();
        e0.ShouldNotBe(e1);
        e0.ShouldBe(loader.Order(0).Select(i => (long)(i % 7)));
    }

    [Fact]
    public void NoShuffle_VisitsInFileOrder()
    {
        var loader = new DataLoader(Dataset(), 10, seed: 42);
        loader.Order(5).ShouldBe(Enumerable.Range(0, Count));
        loader.Epoch(5).SelectMany(b => Enumerable.Range(0, b.Count).Select(i => IndexOf(b, i))).ShouldBe(Enumerable.Range(0, Count));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void EverySampleOncePerEpoch(bool dropLast, bool prefetch)
    {
        var data = Dataset();
        var loader = new DataLoader(data, 10, shuffle: true, dropLast: dropLast, seed: 7, prefetch: prefetch);

        loader.BatchesPerEpoch.ShouldBe(dropLast ? 10 : 11);
        loader.Samples.ShouldBe(dropLast ? 100 : Count);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var batches = loader.Epoch(epoch).ToList();
            batches.Count.ShouldBe(loader.BatchesPerEpoch);
            batches.Take(10).ShouldAllBe(b => b.Count == 10 && b.Labels.Length == 10 && b.Images.Length == 10 * s_shape.Size);
            if (!dropLast) batches[10].Count.ShouldBe(3);

            var seen = new List<int>();
            foreach (var b in batches)
                for (int i = 0; i < b.Count; i++)
                {
                    int index = IndexOf(b, i);
                    b.Labels[i].ShouldBe(index % 7);
                    seen.Add(index);
                }
            seen.Count.ShouldBe((int)loader.Samples);
            seen.Distinct().Count().ShouldBe(seen.Count);
            seen.ShouldBe(loader.Order(epoch).Take(seen.Count));
            if (!dropLast) seen.Order().ShouldBe(Enumerable.Range(0, Count));
        }
    }

    [Fact]
    public void DropLast_WithFewerSamplesThanABatch_HasNoBatches()
    {
        var loader = new DataLoader(Dataset(), 200, dropLast: true);
        loader.BatchesPerEpoch.ShouldBe(0);
        loader.Samples.ShouldBe(0);
        loader.Epoch(0).ShouldBeEmpty();
        new DataLoader(Dataset(), 200).Epoch(0).Single().Count.ShouldBe(Count);
    }

    [Fact]
    public void PrefetchOnAndOff_GiveIdenticalBatches()
    {
        var data = Dataset();
        var on = new DataLoader(data, 8, shuffle: true, seed: 5, transforms: Augment(), prefetch: true);
        var off = new DataLoader(data, 8, shuffle: true, seed: 5, transforms: Augment(), prefetch: false);

        for (int epoch = 0; epoch < 2; epoch++)
            ShouldBeSame(on.Epoch(epoch).ToList(), off.Epoch(epoch).ToList());
    }

    [Fact]
    public void Transforms_DependOnlyOnSeedEpochAndBatch()
    {
        var data = Dataset();
        var transforms = Augment();
        var loader = new DataLoader(data, 8, shuffle: true, seed: 11, transforms: transforms);

        // Epoch 2 read directly, after other epochs, and twice: the same.
        var direct = loader.Epoch(2).ToList();
        _ = loader.Epoch(0).ToList();
        ShouldBeSame(direct, loader.Epoch(2).ToList());
        ShouldBeSame(direct, new DataLoader(data, 8, shuffle: true, seed: 11, transforms: Augment()).Epoch(2).ToList());

        // Rebuilt by hand: per batch a generator seeded from (seed, epoch, batch), transforms in order.
        var order = loader.Order(2);
        for (int b = 0; b < direct.Count; b++)
        {
            var rng = new Random(DataLoader.Mix(11, 2, b));
            var image = new float[s_shape.Size];
            for (int i = 0; i < direct[b].Count; i++)
            {
                data.CopyImage(order[b * 8 + i], image);
                foreach (var t in transforms) t.Apply(image, s_shape, rng);
                direct[b].Images.AsSpan(i * s_shape.Size, s_shape.Size).SequenceEqual(image).ShouldBeTrue($"batch {b} sample {i}");
            }
        }

        // The augmentation does something, and differently in another epoch.
        var plain = new DataLoader(data, 8, shuffle: true, seed: 11, transforms: [new Normalize([0.5f, 0.4f], [0.2f, 0.3f])]).Epoch(2).ToList();
        direct.Zip(plain).Any(p => !p.First.Images.AsSpan().SequenceEqual(p.Second.Images)).ShouldBeTrue();
    }

    [Fact]
    public void Mix_SpreadsNearbyInputs()
    {
        var seeds = new HashSet<int>();
        for (int s = 0; s < 4; s++)
            for (int e = 0; e < 4; e++)
                for (int b = -1; b < 4; b++)
                    seeds.Add(DataLoader.Mix(s, e, b));
        seeds.Count.ShouldBe(4 * 4 * 5);
    }

    [Fact]
    public void BatchSizeBelowOne_IsBadArgument()
    {
        Should.Throw<SecateurException>(() => new DataLoader(Dataset(), 0)).Code.ShouldBe(ErrorCode.BadArgument);
    }
}
