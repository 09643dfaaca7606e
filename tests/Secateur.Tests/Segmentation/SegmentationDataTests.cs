using Secateur.Data;
using Secateur.Tests.Data;
using StbImageWriteSharp;

namespace Secateur.Tests.Segmentation;

/// <summary>Segmentation folders (images matched to masks by name), the joint augmentation, and the Fashion-MNIST canvas generator.</summary>
public sealed class SegmentationDataTests
{
    private static void Png(string path, byte[] pixels, int width, int height, ColorComponents components = ColorComponents.Grey)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = File.Create(path);
        new ImageWriter().WritePng(pixels, width, height, components, stream);
    }

    private static byte[] Filled(int n, byte value) => Enumerable.Repeat(value, n).ToArray();

    [Fact]
    public void Images_are_paired_with_masks_by_file_name_whatever_the_extension_and_order()
    {
        using var dir = new TempDir();
        // Image "b" is bright, "a" is dark; each mask says which: pairing by position would swap them.
        Png(dir.File("images", "b.png"), Filled(16, 200), 4, 4);
        Png(dir.File("images", "a.png"), Filled(16, 10), 4, 4);
        Png(dir.File("masks", "a.png"), Filled(16, 1), 4, 4);
        Png(dir.File("masks", "b.png"), Filled(16, 2), 4, 4);
        var set = SegmentationFolder.Load(dir.Path, null, classCount: 3, ignoreIndex: 255, classNames: null);
        set.HasMasks.ShouldBeTrue();
        set.Count.ShouldBe(2);
        set.ClassCount.ShouldBe(3);
        for (int i = 0; i < 2; i++)
        {
            byte expected = set.GetImageBytes(i)[0] == 200 ? (byte)2 : (byte)1;
            set.GetMask(i).ToArray().ShouldAllBe(v => v == expected);
        }
    }

    [Fact]
    public void A_missing_mask_a_class_beyond_the_class_count_and_a_colour_mask_are_clear_errors()
    {
        using var dir = new TempDir();
        Png(dir.File("train", "images", "x.png"), Filled(16, 5), 4, 4);
        Png(dir.File("train", "masks", "x.png"), Filled(16, 1), 4, 4);
        Png(dir.File("train", "images", "y.png"), Filled(16, 5), 4, 4);
        Png(dir.File("test", "images", "z.png"), Filled(16, 5), 4, 4);
        Png(dir.File("test", "masks", "z.png"), Filled(16, 0), 4, 4);
        File.WriteAllLines(dir.File("classes.txt"), ["background", "thing", "other"]);
        var missing = Should.Throw<SecateurException>(() => DataSource.Resolve("segfolder:" + dir.Path));
        missing.Code.ShouldBe(ErrorCode.BadFile);
        missing.Message.ShouldContain("y.png");
        missing.Message.ShouldContain("has no mask");

        var mask = Filled(16, 1);
        mask[5] = 3; // classes.txt names 3 classes: 0-2
        Png(dir.File("train", "masks", "y.png"), mask, 4, 4);
        var beyond = Should.Throw<SecateurException>(() => DataSource.Resolve("segfolder:" + dir.Path));
        beyond.Code.ShouldBe(ErrorCode.BadFile);
        beyond.Message.ShouldContain("y.png");
        beyond.Message.ShouldContain("class 3");

        mask[5] = 255; // the ignore index is not a class
        Png(dir.File("train", "masks", "y.png"), mask, 4, 4);
        var set = DataSource.Resolve("segfolder:" + dir.Path);
        (set.Train.Count, set.Test.Count, set.Train.ClassCount).ShouldBe((2, 1, 3));
        set.Train.ClassNames!.ShouldBe(["background", "thing", "other"]);

        Png(dir.File("train", "masks", "y.png"), Enumerable.Repeat((byte)1, 48).ToArray(), 4, 4, ColorComponents.RedGreenBlue);
        Should.Throw<SecateurException>(() => DataSource.Resolve("segfolder:" + dir.Path)).Message.ShouldContain("greyscale");
    }

    [Fact]
    public void The_task_must_fit_the_data()
    {
        using var dir = new TempDir();
        Png(dir.File("images", "a.png"), Filled(16, 5), 4, 4);
        Png(dir.File("masks", "a.png"), Filled(16, 1), 4, 4);
        Should.Throw<SecateurException>(() => DataSource.Resolve("embedded", new DataSourceOptions { Task = TaskKind.Segmentation })).Parameter.ShouldBe(ParameterNames.Task);
        Should.Throw<SecateurException>(() => DataSource.Resolve("segfolder:" + dir.Path, new DataSourceOptions { Task = TaskKind.Classification })).Parameter.ShouldBe(ParameterNames.Task);
        // A directory with images/ and masks/ is recognised without the segfolder: prefix.
        DataSource.Resolve(dir.Path).Train.HasMasks.ShouldBeTrue();
    }

    [Fact]
    public void Crop_and_flip_move_image_and_mask_together()
    {
        // Every pixel's grey level is its mask class (1-200, never 0), so alignment is checkable pixel by pixel:
        // after the transforms a pixel is either still equal to its class or padding (image 0, mask ignored).
        const int h = 12, w = 10, n = 16;
        var rng = new Random(3);
        var pixels = new byte[n * h * w];
        var masks = new ReadOnlyMemory<byte>[n];
        for (int i = 0; i < n; i++)
        {
            var m = new byte[h * w];
            for (int k = 0; k < m.Length; k++) m[k] = pixels[i * h * w + k] = (byte)rng.Next(1, 201);
            masks[i] = m;
        }
        var set = ImageDataset.FromBytes(pixels, new ImageShape(1, h, w), new int[n], 1).WithMasks(masks, 201);
        var loader = new DataLoader(set, 4, shuffle: true, seed: 5, transforms: [new PadAndRandomCrop(3), new RandomHorizontalFlip(0.5)]);
        int padded = 0, moved = 0;
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var order = loader.Order(epoch);
            int b = 0;
            foreach (var batch in loader.Epoch(epoch))
            {
                batch.Masks.ShouldNotBeNull();
                batch.MaskSize.ShouldBe((h, w));
                batch.IgnoreIndex.ShouldBe(255);
                for (int k = 0; k < batch.Masks.Length; k++)
                {
                    long label = batch.Masks[k];
                    int grey = (int)Math.Round(batch.Images[k] * 255);
                    if (label == 255) { grey.ShouldBe(0); padded++; }
                    else grey.ShouldBe((int)label);
                }
                // Against the untransformed mask: the transforms did move something, or the check above proves nothing.
                for (int i = 0; i < batch.Count; i++)
                {
                    var original = masks[order[b * 4 + i]].ToArray();
                    if (!batch.Masks.AsSpan(i * h * w, h * w).ToArray().Select(v => (byte)v).SequenceEqual(original)) moved++;
                }
                b++;
            }
        }
        padded.ShouldBeGreaterThan(0);
        moved.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void A_transform_that_cannot_move_masks_is_refused()
    {
        var set = ImageDataset.FromBytes(new byte[16], new ImageShape(1, 4, 4), [0], 1).WithMasks([new byte[16]], 2);
        Should.Throw<SecateurException>(() => new DataLoader(set, 1, transforms: [new Normalize([0.5f], [0.5f])])).Message.ShouldContain("mask");
    }

    [Fact]
    public void The_generator_is_seeded_labels_bright_garment_pixels_with_their_class_and_leaves_the_rest_background()
    {
        var garments = EmbeddedFashionMnist.Load(false);
        var options = new FashionSegmentationOptions { CanvasSize = 48, Seed = 7 };
        var (images, masks) = FashionSegmentation.Compose(garments, 20, options, stream: 1);
        var (again, againMasks) = FashionSegmentation.Compose(garments, 20, options, stream: 1);
        var (other, _) = FashionSegmentation.Compose(garments, 20, options with { Seed = 8 }, stream: 1);
        images.Zip(again).ShouldAllBe(p => p.First.SequenceEqual(p.Second));
        masks.Zip(againMasks).ShouldAllBe(p => p.First.SequenceEqual(p.Second));
        images.Zip(other).Any(p => !p.First.SequenceEqual(p.Second)).ShouldBeTrue();
        var classes = new HashSet<byte>();
        for (int i = 0; i < images.Length; i++)
        {
            images[i].Length.ShouldBe(48 * 48);
            for (int k = 0; k < images[i].Length; k++)
            {
                byte m = masks[i][k];
                m.ShouldBeLessThanOrEqualTo((byte)10);
                if (m > 0) images[i][k].ShouldBeGreaterThan((byte)options.Threshold);
                else images[i][k].ShouldBeLessThanOrEqualTo((byte)options.Threshold);
                classes.Add(m);
            }
            masks[i].Count(v => v > 0).ShouldBeGreaterThan(0); // at least one garment
        }
        classes.Count.ShouldBeGreaterThan(5);
    }

    [Fact]
    public void The_written_set_loads_as_a_segmentation_folder_with_eleven_classes()
    {
        using var dir = new TempDir();
        var options = new FashionSegmentationOptions { TrainCanvases = 6, TestCanvases = 3, CanvasSize = 32 };
        FashionSegmentation.Write(dir.Path, EmbeddedFashionMnist.Load(true), EmbeddedFashionMnist.Load(false), options);
        var set = DataSource.Resolve("segfolder:" + dir.Path);
        (set.Train.Count, set.Test.Count).ShouldBe((6, 3));
        set.Train.ClassCount.ShouldBe(11);
        set.Train.ClassNames![0].ShouldBe("background");
        set.Train.Shape.ShouldBe(new ImageShape(1, 32, 32));
        var (images, masks) = FashionSegmentation.Compose(EmbeddedFashionMnist.Load(true), 6, options, stream: 1);
        set.Train.GetMask(4).ToArray().ShouldBe(masks[4]);
        set.Train.GetImageBytes(4).ToArray().ShouldBe(images[4]);
    }
}
