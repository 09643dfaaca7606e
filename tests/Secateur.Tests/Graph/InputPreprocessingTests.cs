using Secateur.Data;
using Secateur.Graph;

namespace Secateur.Tests.Graph;

public sealed class InputPreprocessingTests
{
    [Fact]
    public void Presets_have_the_protocols_values()
    {
        var fm = InputPreprocessing.Preset("fashion-mnist")!;
        fm.Mean.ShouldBe([FashionMnist.Mean]);
        fm.Std.ShouldBe([FashionMnist.Std]);
        fm.Range.ShouldBe(InputRange.Unit);

        var cifar = InputPreprocessing.Preset("CIFAR10")!; // names are case-insensitive
        cifar.Mean.ShouldBe(Cifar.Mean);
        cifar.Std.ShouldBe(Cifar.Std);

        var imagenet = InputPreprocessing.Preset("imagenet")!;
        imagenet.Mean.ShouldBe([0.485f, 0.456f, 0.406f]);
        imagenet.Std.ShouldBe([0.229f, 0.224f, 0.225f]);
        imagenet.Order.ShouldBe(ChannelOrder.Rgb);
        imagenet.Resize.ShouldBe(new ResizePolicy(ResizeMode.CenterCrop, 0.875f)); // 224 out of 256

        var unit = InputPreprocessing.Preset("unit")!;
        (unit.Range, unit.Normalizes, unit.Layout).ShouldBe((InputRange.Unit, false, InputLayout.Nchw));
        var raw = InputPreprocessing.Preset("raw255")!;
        (raw.Range, raw.Normalizes).ShouldBe((InputRange.Byte, false));
        InputPreprocessing.Preset("symmetric")!.RangeBounds.ShouldBe((-1f, 1f));
        InputPreprocessing.Preset("nope").ShouldBeNull();

        foreach (var (name, preset) in InputPreprocessing.Presets)
        {
            preset.PresetName.ShouldBe(name);
            preset.Validated().ShouldBeSameAs(preset);
        }
    }

    [Fact]
    public void The_compact_form_round_trips_every_preset_and_a_custom_description()
    {
        var custom = new InputPreprocessing
        {
            Range = InputRange.Byte,
            Mean = [103.94f, 116.78f, 123.68f],
            Std = [1f, 1f, 1f],
            Order = ChannelOrder.Bgr,
            Color = ColorConversion.GrayToRgb,
            Resize = new ResizePolicy(ResizeMode.CenterCrop, 0.9f),
            Layout = InputLayout.Nhwc,
        };
        custom.ToString().ShouldBe("range=0..255;mean=103.94,116.78,123.68;std=1,1,1;order=bgr;color=gray-to-rgb;resize=crop:0.9;layout=nhwc");
        custom.PresetName.ShouldBeNull();
        custom.Describe().ShouldBe(custom.ToString());
        InputPreprocessing.Parse(custom.ToString()).ShouldBe(custom);

        foreach (var (name, preset) in InputPreprocessing.Presets)
        {
            InputPreprocessing.Parse(preset.ToString()).ShouldBe(preset);
            InputPreprocessing.Parse(name).ShouldBe(preset);
            preset.ToString().ShouldNotBe(name); // the saved form spells every field out
        }
        InputPreprocessing.ImageNet.ToString().ShouldBe(
            "range=0..1;mean=0.485,0.456,0.406;std=0.229,0.224,0.225;order=rgb;color=none;resize=crop:0.875;layout=nchw");
        InputPreprocessing.Unit.ToString().ShouldBe("range=0..1;mean=;std=;order=rgb;color=none;resize=stretch;layout=nchw");
    }

    [Fact]
    public void The_short_description_is_a_preset_with_what_differs_and_reads_back()
    {
        // The NHWC choice used to print all seven fields; a preset's values with another layout name the preset.
        (InputPreprocessing.Unit with { Layout = InputLayout.Nhwc }).Describe().ShouldBe("unit;layout=nhwc");
        (InputPreprocessing.Unit with { Order = ChannelOrder.Bgr }).Describe().ShouldBe("unit;order=bgr");
        (InputPreprocessing.ImageNet with { Order = ChannelOrder.Bgr }).Describe().ShouldBe("imagenet;order=bgr");
        (InputPreprocessing.Cifar10 with { Resize = new ResizePolicy(ResizeMode.CenterCrop, 0.875f) }).Describe().ShouldBe("cifar10;resize=crop:0.875");
        // Statistics of no preset: only the fields that differ from the defaults.
        var half = new InputPreprocessing { Mean = [0.5f], Std = [0.5f] };
        half.Describe().ShouldBe("mean=0.5;std=0.5");
        foreach (var p in new[] { half, InputPreprocessing.Unit with { Layout = InputLayout.Nhwc }, InputPreprocessing.ImageNet with { Order = ChannelOrder.Bgr, Layout = InputLayout.Nhwc } })
            InputPreprocessing.Parse(p.Describe()).ShouldBe(p);
    }

    [Fact]
    public void A_bad_mean_or_std_names_its_property_and_everything_else_the_description()
    {
        Should.Throw<SecateurException>(() => InputPreprocessing.Parse("mean=abc;std=1")).Parameter.ShouldBe(nameof(InputPreprocessing.Mean));
        Should.Throw<SecateurException>(() => InputPreprocessing.Parse("mean=0.5;std=0")).Parameter.ShouldBe(nameof(InputPreprocessing.Std));
        Should.Throw<SecateurException>(() => InputPreprocessing.Parse("mean=0.5,0.5,0.5;std=1")).Parameter.ShouldBe(nameof(InputPreprocessing.Std));
        Should.Throw<SecateurException>(() => InputPreprocessing.Parse("layout=nchwc")).Parameter.ShouldBe(ParameterNames.Preprocessing);
    }

    [Fact]
    public void A_preset_can_be_overridden_key_by_key()
    {
        var p = InputPreprocessing.Parse(" imagenet ; layout=NHWC; order=bgr ");
        p.Layout.ShouldBe(InputLayout.Nhwc);
        p.Order.ShouldBe(ChannelOrder.Bgr);
        p.Mean.ShouldBe(InputPreprocessing.ImageNet.Mean);
        p.PresetName.ShouldBeNull();

        InputPreprocessing.Parse("range=-1..1").ShouldBe(InputPreprocessing.Symmetric);
        InputPreprocessing.Parse("range=0..255;mean=;std=").ShouldBe(InputPreprocessing.Raw255);
        InputPreprocessing.Parse("mean=0.5;std=0.25").Mean.ShouldBe([0.5f]);
        InputPreprocessing.Parse("resize=crop").Resize.ShouldBe(new ResizePolicy(ResizeMode.CenterCrop, 1f));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("vgg", "unknown preprocessing preset 'vgg'")]
    [InlineData("from-data", "computed from the training images")]
    [InlineData("unit;imagenet", "only the first item may be a preset name")]
    [InlineData("gamma=2", "unknown preprocessing key 'gamma'")]
    [InlineData("range=0..2", "unknown input range '0..2'")]
    [InlineData("mean=0.5", "as many means as standard deviations", nameof(InputPreprocessing.Std))]
    [InlineData("mean=0.5,x;std=1,1", "'x' in mean=0.5,x is not a number", nameof(InputPreprocessing.Mean))]
    [InlineData("mean=0.5;std=0", "standard deviations must be positive", nameof(InputPreprocessing.Std))]
    [InlineData("mean=1,2;std=1,1", "one value for every channel or one per channel", nameof(InputPreprocessing.Mean))]
    [InlineData("order=grb", "unknown channel order")]
    [InlineData("color=sepia", "unknown colour conversion")]
    [InlineData("resize=crop:1.5", "must be in (0, 1]")]
    [InlineData("resize=fill", "unknown resize policy")]
    [InlineData("layout=chwn", "unknown input layout")]
    public void Bad_descriptions_fail_with_a_neutral_message_naming_the_parameter(string text, string expected, string parameter = ParameterNames.Preprocessing)
    {
        var e = Should.Throw<SecateurException>(() => InputPreprocessing.Parse(text));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Parameter.ShouldBe(parameter); // the statistics name their property, so a front end can point at its own option
        e.Message.ShouldContain(expected);
        e.Message.ShouldNotContain("--");
        e.Message.ShouldNotContain("\n");
    }

    [Fact]
    public void Validated_rejects_what_the_compact_form_cannot_say()
    {
        Should.Throw<SecateurException>(() => (InputPreprocessing.Unit with { Mean = [0.5f], Std = [-1f] }).Validated())
            .Parameter.ShouldBe(nameof(InputPreprocessing.Std));
        Should.Throw<SecateurException>(() => (InputPreprocessing.Unit with { Resize = new ResizePolicy(ResizeMode.Stretch, 0.5f) }).Validated())
            .Message.ShouldContain("direct resize takes no crop fraction");
        Should.Throw<SecateurException>(() => (InputPreprocessing.Unit with { Range = (InputRange)7 }).Validated());
    }

    [Fact]
    public void Equality_is_by_value_and_the_lists_cannot_be_changed_behind_its_back()
    {
        var mean = new[] { 0.1f, 0.2f, 0.3f };
        var a = InputPreprocessing.Unit with { Mean = mean, Std = [1f, 1f, 1f] };
        var b = InputPreprocessing.Unit with { Mean = [0.1f, 0.2f, 0.3f], Std = [1f, 1f, 1f] };
        a.ShouldBe(b);
        a.GetHashCode().ShouldBe(b.GetHashCode());
        mean[0] = 9f;
        a.Mean[0].ShouldBe(0.1f);
        (a with { Order = ChannelOrder.Bgr }).ShouldNotBe(a);
        Should.Throw<NotSupportedException>(() => ((IList<float>)a.Mean)[0] = 5f);
    }

    [Fact]
    public void Per_channel_statistics_must_fit_the_channel_count()
    {
        InputPreprocessing.ImageNet.CheckChannels(3);
        InputPreprocessing.FashionMnist.CheckChannels(3); // one value serves every channel
        var e = Should.Throw<SecateurException>(() => InputPreprocessing.ImageNet.CheckChannels(1));
        e.Message.ShouldBe("the input preprocessing has statistics for 3 channels, the input has 1");
        InputPreprocessing.ImageNet.MeanOf(2).ShouldBe(0.406f);
        InputPreprocessing.Unit.StdOf(2).ShouldBe(1f);
    }

    [Fact]
    public void A_graph_carries_it_in_its_metadata_and_clones_keep_it()
    {
        var g = new ModelGraph("m");
        g.Preprocessing.ShouldBeNull();
        g.Preprocessing = InputPreprocessing.ImageNet;
        g.Metadata[InputPreprocessing.MetadataKey].ShouldBe(InputPreprocessing.ImageNet.ToString());
        g.Clone().Preprocessing.ShouldBe(InputPreprocessing.ImageNet);
        g.Preprocessing = null;
        g.Metadata.ShouldNotContainKey(InputPreprocessing.MetadataKey);

        g.Metadata[InputPreprocessing.MetadataKey] = "range=7";
        var e = Should.Throw<SecateurException>(() => g.Preprocessing);
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain("secateur.preprocessing");
        e.Message.ShouldContain("unknown input range '7'");
    }
}
