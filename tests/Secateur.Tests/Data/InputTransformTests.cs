using Secateur.Data;
using Secateur.Graph;

namespace Secateur.Tests.Data;

/// <summary>Issue 17: each part of a preprocessing gives exactly the hand-computed value of a pixel.</summary>
public sealed class InputTransformTests
{
    // One RGB pixel: red 51, green 102, blue 153 (0.2, 0.4, 0.6 in [0, 1]).
    private static readonly ImageShape OnePixel = new(3, 1, 1);
    private static readonly float[] Rgb = [51 / 255f, 102 / 255f, 153 / 255f];

    private static float[] Apply(InputPreprocessing p, ImageShape shape, float[] image) => new InputTransform(p, shape).Apply(image);

    [Fact]
    public void Ranges_scale_the_pixel()
    {
        Apply(InputPreprocessing.Unit, OnePixel, Rgb).ShouldBe(Rgb);
        Apply(InputPreprocessing.Raw255, OnePixel, Rgb).ShouldBe([51f, 102f, 153f], 1e-4f);
        Apply(InputPreprocessing.Symmetric, OnePixel, Rgb).ShouldBe([-0.6f, -0.2f, 0.2f], 1e-6f);
    }

    [Fact]
    public void Normalisation_is_in_range_units_per_channel()
    {
        Apply(InputPreprocessing.ImageNet, OnePixel, Rgb)
            .ShouldBe([(0.2f - 0.485f) / 0.229f, (0.4f - 0.456f) / 0.224f, (0.6f - 0.406f) / 0.225f], 1e-5f);
        // Caffe-style: 0–255, mean in those units.
        var caffe = InputPreprocessing.Raw255 with { Mean = [50f, 100f, 150f], Std = [2f, 2f, 2f] };
        Apply(caffe, OnePixel, Rgb).ShouldBe([0.5f, 1f, 1.5f], 1e-4f);
    }

    [Fact]
    public void Bgr_reverses_the_channels_before_the_per_channel_statistics()
    {
        var bgr = InputPreprocessing.Unit with { Order = ChannelOrder.Bgr };
        Apply(bgr, OnePixel, Rgb).ShouldBe([Rgb[2], Rgb[1], Rgb[0]]);
        // The means are the model's channel order: channel 0 is blue.
        var bgrNorm = bgr with { Range = InputRange.Byte, Mean = [150f, 100f, 50f], Std = [1f, 1f, 1f] };
        Apply(bgrNorm, OnePixel, Rgb).ShouldBe([3f, 2f, 1f], 1e-4f);
    }

    [Fact]
    public void Gray_to_rgb_replicates_and_rgb_to_gray_takes_pil_luma()
    {
        var gray = new ImageShape(1, 1, 2);
        var toRgb = new InputTransform(InputPreprocessing.Unit with { Color = ColorConversion.GrayToRgb, Mean = [0.1f, 0.2f, 0.3f], Std = [0.5f, 0.5f, 0.5f] }, gray);
        toRgb.Output.ShouldBe(new ImageShape(3, 1, 2));
        toRgb.Apply([0.5f, 1f]).ShouldBe([0.8f, 1.8f, 0.6f, 1.6f, 0.4f, 1.4f], 1e-6f);

        var toGray = new InputTransform(InputPreprocessing.Unit with { Color = ColorConversion.RgbToGray }, OnePixel);
        toGray.Output.ShouldBe(new ImageShape(1, 1, 1));
        toGray.Apply(Rgb).ShouldBe([0.299f * 0.2f + 0.587f * 0.4f + 0.114f * 0.6f], 1e-6f);

        // Images that already have the model's channels are left alone.
        new InputTransform(InputPreprocessing.Unit with { Color = ColorConversion.GrayToRgb }, OnePixel).Apply(Rgb).ShouldBe(Rgb);
    }

    [Fact]
    public void Nhwc_interleaves_the_channels()
    {
        // 1 row × 2 columns RGB, CHW: r0 r1 g0 g1 b0 b1.
        var shape = new ImageShape(3, 1, 2);
        float[] chw = [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f];
        var t = new InputTransform(InputPreprocessing.Raw255 with { Layout = InputLayout.Nhwc }, shape);
        t.SampleShape.ShouldBe([1L, 2L, 3L]);
        t.Apply(chw).ShouldBe([25.5f, 76.5f, 127.5f, 51f, 102f, 153f], 1e-4f);
        new InputTransform(InputPreprocessing.Unit, shape).SampleShape.ShouldBe([3L, 1L, 2L]);
    }

    [Fact]
    public void Channels_that_do_not_fit_fail_naming_the_parameter()
    {
        var e = Should.Throw<SecateurException>(() => new InputTransform(InputPreprocessing.ImageNet, new ImageShape(1, 2, 2)));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Parameter.ShouldBe(ParameterNames.Preprocessing);
        // With the conversion the same gray images fit ImageNet's three channels.
        new InputTransform(InputPreprocessing.ImageNet with { Color = ColorConversion.GrayToRgb }, new ImageShape(1, 2, 2)).Output.Channels.ShouldBe(3);
    }

    [Fact]
    public void The_loader_applies_it_after_augmentation_and_batches_in_the_models_layout()
    {
        byte[] pixels = [51, 102, 153, 204, 0, 255];  // one 3×1×2 image
        var data = ImageDataset.FromBytes(pixels, new ImageShape(3, 1, 2), [0], 1);
        var loader = new DataLoader(data, 1, preprocessing: InputPreprocessing.Unit with { Order = ChannelOrder.Bgr, Layout = InputLayout.Nhwc });

        var batch = loader.Epoch(0).Single();

        batch.SampleShape.ShouldBe([1L, 2L, 3L]);
        loader.SampleShape.ShouldBe([1L, 2L, 3L]);
        new DataSet("one", data, data, loader.Preprocessing!).SampleShape.ShouldBe([1L, 2L, 3L]);
        new DataSet("gray", data, data, InputPreprocessing.Unit with { Color = ColorConversion.RgbToGray }).SampleShape.ShouldBe([1L, 1L, 2L]);
        // Pixel (0,0) is r 51, g 153, b 0 → b g r; pixel (0,1) is r 102, g 204, b 255.
        batch.Images.ShouldBe([0f, 153 / 255f, 51 / 255f, 1f, 204 / 255f, 102 / 255f]);
    }

    [Fact]
    public void The_fashion_mnist_preset_batches_exactly_what_the_old_normalisation_did()
    {
        var set = DataSource.Resolve("embedded");
        var images = set.Test.Take(64);
        var old = new DataLoader(images, 64, transforms: [new Normalize([FashionMnist.Mean], [FashionMnist.Std])]).Epoch(0).Single();
        var now = set.Loader(images, 64).Epoch(0).Single();
        now.Images.ShouldBe(old.Images); // bit for bit: the preset changes nothing for models trained the old way
        now.SampleShape.ShouldBe(old.SampleShape);
    }

    [Fact]
    public void DataSet_Mean_and_Std_fold_the_range_into_an_equivalent_unit_normalisation()
    {
        var data = ImageDataset.FromBytes([51, 102, 153], OnePixel, [0], 1);
        foreach (var p in new[] { InputPreprocessing.Raw255, InputPreprocessing.Symmetric, InputPreprocessing.ImageNet, InputPreprocessing.Raw255 with { Mean = [10f], Std = [20f] } })
        {
            var set = new DataSet("one", data, data, p);
            var viaOld = new DataLoader(data, 1, transforms: [new Normalize(set.Mean, set.Std)]).Epoch(0).Single().Images;
            set.TestLoader().Epoch(0).Single().Images.ShouldBe(viaOld, 1e-4f, p.ToString());
        }
        new DataSet("one", data, data, InputPreprocessing.Raw255).Std.ShouldBe([1 / 255f]);
        new DataSet("one", data, data, InputPreprocessing.Symmetric).Mean.ShouldBe([0.5f]);

        // The old constructor is a [0, 1] normalisation.
        var legacy = new DataSet("legacy", data, data, [0.5f], [0.25f]);
        legacy.Preprocessing.ShouldBe(InputPreprocessing.Unit with { Mean = [0.5f], Std = [0.25f] });
    }

    [Fact]
    public void Statistics_from_the_training_images_are_computed_only_when_asked_and_in_range_units()
    {
        // Two 1×2 RGB images as in DataSourceTests.Statistics_PerChannel: red mean 0.5 std 0.5, green 0.2, blue mean 0.3.
        byte[] pixels = [0, 0, 51, 51, 0, 51, 255, 255, 51, 51, 102, 153];
        var data = ImageDataset.FromBytes(pixels, new ImageShape(3, 1, 2), [0, 0], 1);
        var set = new DataSet("two", data, data, InputPreprocessing.Raw255 with { Order = ChannelOrder.Bgr });

        var stats = set.WithStatisticsFromTrain().Preprocessing;

        stats.Range.ShouldBe(InputRange.Byte);
        stats.Order.ShouldBe(ChannelOrder.Bgr);
        stats.Mean.ShouldBe([0.3f * 255, 0.2f * 255, 0.5f * 255], 1e-3f); // model order: blue, green, red
        stats.Std[2].ShouldBe(0.5f * 255, 1e-3f);
        set.Preprocessing.Normalizes.ShouldBeFalse(); // the original is unchanged
    }
}
