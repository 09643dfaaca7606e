using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace Secateur.Graph;

/// <summary>The range pixel values are scaled to before any normalisation.</summary>
public enum InputRange
{
    /// <summary>[0, 1]: each 8-bit value divided by 255 (torchvision's <c>ToTensor</c>).</summary>
    Unit,
    /// <summary>[0, 255]: the 8-bit values as they are (Caffe and many Keras models).</summary>
    Byte,
    /// <summary>[−1, 1]: 8-bit values mapped linearly, 0 to −1 and 255 to 1 (TensorFlow's "inception" preprocessing).</summary>
    Symmetric,
}

/// <summary>The order of the colour channels a three-channel model expects.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue (PIL, torchvision, most frameworks).</summary>
    Rgb,
    /// <summary>Blue, green, red (OpenCV and Caffe pipelines).</summary>
    Bgr,
}

/// <summary>How images whose channel count differs from the model's are converted.</summary>
public enum ColorConversion
{
    /// <summary>No conversion: images must already have the model's channel count.</summary>
    None,
    /// <summary>Grayscale images are replicated into three identical channels (images already in colour are left alone).</summary>
    GrayToRgb,
    /// <summary>Colour images become one luma channel, 0.299 R + 0.587 G + 0.114 B as PIL computes it (grayscale images are left alone).</summary>
    RgbToGray,
}

/// <summary>How images of another size than the model's input are brought to it.</summary>
public enum ResizeMode
{
    /// <summary>Resized directly to the input's height and width (the aspect ratio may change).</summary>
    Stretch,
    /// <summary>
    /// Resized, keeping the aspect ratio, so that the input's height and width cover
    /// <see cref="ResizePolicy.CropFraction"/> of the shorter side, then centre-cropped (torchvision's ImageNet
    /// evaluation: shorter side 256, centre crop 224, a fraction of 0.875).
    /// </summary>
    CenterCrop,
}

/// <summary>The memory layout of the model's input tensor.</summary>
public enum InputLayout
{
    /// <summary>Batch, channels, height, width (PyTorch, ONNX's convention).</summary>
    Nchw,
    /// <summary>Batch, height, width, channels (TensorFlow and Keras).</summary>
    Nhwc,
}

/// <summary>How an image of another size is brought to the model's input size.</summary>
/// <param name="Mode">Stretch, or keep the aspect ratio and crop the centre.</param>
/// <param name="CropFraction">
/// For <see cref="ResizeMode.CenterCrop"/>, the fraction of the resized image's shorter side the crop keeps, in (0, 1]:
/// 1 resizes the shorter side to the input size, 0.875 to input/0.875 (224 from 256). Must be 1 for stretch.
/// </param>
public readonly record struct ResizePolicy(ResizeMode Mode, float CropFraction = 1f)
{
    /// <summary>Direct resize to the input size.</summary>
    public static ResizePolicy Stretch { get; } = new(ResizeMode.Stretch);

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) unless the crop fraction fits the mode.</summary>
    public ResizePolicy Validated()
    {
        if (!Enum.IsDefined(Mode))
            throw InputPreprocessing.Bad($"unknown resize mode {(int)Mode}");
        if (!(CropFraction > 0 && CropFraction <= 1))
            throw InputPreprocessing.Bad($"the centre-crop fraction must be in (0, 1] (got {CropFraction.ToString(CultureInfo.InvariantCulture)})");
        if (Mode == ResizeMode.Stretch && CropFraction != 1)
            throw InputPreprocessing.Bad("a direct resize takes no crop fraction");
        return this;
    }
}

/// <summary>
/// What a model expects as input, in the terms of the 8-bit images it is fed: the value range, the per-channel
/// normalisation, the channel order, any grayscale↔colour conversion, how other image sizes are resized, and the
/// tensor layout. It is part of the model: <see cref="ModelGraph.Preprocessing"/> records it and every ONNX file keeps
/// it in its metadata (<see cref="MetadataKey"/>), so that a pruned or fine-tuned model is fed exactly as its original.
/// </summary>
/// <remarks>
/// <para>
/// Applied to a pixel <c>u</c> in [0, 1] of channel <c>c</c> of the converted, reordered image:
/// <c>v = lo + (hi − lo)·u</c> with [lo, hi] the <see cref="Range"/>, then <c>(v − Mean[c]) / Std[c]</c>.
/// <see cref="Mean"/> and <see cref="Std"/> are therefore in the units of the range (0.485 for [0, 1], 123.68 for
/// [0, 255]) and in the model's channel order (BGR means for a BGR model).
/// </para>
/// <para>
/// The compact text form (<see cref="ToString"/>, <see cref="Parse"/>) is a preset name, or
/// <c>key=value</c> pairs separated by <c>;</c>, optionally after a preset name whose values they override:
/// <c>range=0..1;mean=0.485,0.456,0.406;std=0.229,0.224,0.225;order=rgb;color=none;resize=crop:0.875;layout=nchw</c>.
/// Keys: <c>range</c> (<c>0..1</c>, <c>0..255</c>, <c>-1..1</c>), <c>mean</c> and <c>std</c> (one value for every
/// channel or one per channel; both empty for no normalisation), <c>order</c> (<c>rgb</c>, <c>bgr</c>),
/// <c>color</c> (<c>none</c>, <c>gray-to-rgb</c>, <c>rgb-to-gray</c>), <c>resize</c> (<c>stretch</c>,
/// <c>crop</c> or <c>crop:FRACTION</c>), <c>layout</c> (<c>nchw</c>, <c>nhwc</c>).
/// </para>
/// </remarks>
public sealed record InputPreprocessing
{
    /// <summary>The ONNX <c>metadata_props</c> key the compact form (<see cref="ToString"/>) is saved under.</summary>
    public const string MetadataKey = "secateur.preprocessing";

    /// <summary>
    /// The name front ends use to ask for normalisation statistics computed from the training images. It is a
    /// request, not a description (the values depend on the data), so <see cref="Parse"/> rejects it; the data layer
    /// computes it (<c>Data.DataSourceOptions.StatisticsFromData</c>).
    /// </summary>
    public const string FromDataName = "from-data";

    private static readonly ReadOnlyCollection<float> Empty = Array.AsReadOnly(Array.Empty<float>());

    private readonly ReadOnlyCollection<float> _mean = Empty;
    private readonly ReadOnlyCollection<float> _std = Empty;

    /// <summary>Values in [0, 1], no normalisation: torchvision's <c>ToTensor()</c> alone, the most common training setup.</summary>
    public static InputPreprocessing Unit { get; } = new();

    /// <summary>Values in [0, 255], no normalisation.</summary>
    public static InputPreprocessing Raw255 { get; } = new() { Range = InputRange.Byte };

    /// <summary>Values in [−1, 1], no normalisation (Keras/TensorFlow "inception" models).</summary>
    public static InputPreprocessing Symmetric { get; } = new() { Range = InputRange.Symmetric };

    /// <summary>The Fashion-MNIST protocol: [0, 1], mean 0.2860, standard deviation 0.3530.</summary>
    public static InputPreprocessing FashionMnist { get; } = new() { Mean = [0.2860f], Std = [0.3530f] };

    /// <summary>CIFAR-10's training-set statistics: [0, 1], mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616), RGB.</summary>
    public static InputPreprocessing Cifar10 { get; } = new() { Mean = [0.4914f, 0.4822f, 0.4465f], Std = [0.2470f, 0.2435f, 0.2616f] };

    /// <summary>
    /// torchvision's ImageNet models: [0, 1], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), RGB, images
    /// resized keeping their aspect ratio and centre-cropped to 0.875 of the shorter side (256 → 224).
    /// </summary>
    public static InputPreprocessing ImageNet { get; } = new()
    {
        Mean = [0.485f, 0.456f, 0.406f],
        Std = [0.229f, 0.224f, 0.225f],
        Resize = new ResizePolicy(ResizeMode.CenterCrop, 0.875f),
    };

    /// <summary>The presets by name, in the order an automatic choice tries them.</summary>
    public static IReadOnlyList<(string Name, InputPreprocessing Preprocessing)> Presets { get; } =
    [
        ("unit", Unit),
        ("fashion-mnist", FashionMnist),
        ("cifar10", Cifar10),
        ("imagenet", ImageNet),
        ("raw255", Raw255),
        ("symmetric", Symmetric),
    ];

    /// <summary>The range pixel values are scaled to.</summary>
    public InputRange Range { get; init; } = InputRange.Unit;

    /// <summary>Mean subtracted per channel, in the units of <see cref="Range"/>: empty (none), one value for all channels, or one per channel.</summary>
    public IReadOnlyList<float> Mean
    {
        get => _mean;
        init => _mean = Array.AsReadOnly((value ?? throw new ArgumentNullException(nameof(Mean))).ToArray());
    }

    /// <summary>Standard deviation divided by per channel, in the units of <see cref="Range"/>; as many values as <see cref="Mean"/>.</summary>
    public IReadOnlyList<float> Std
    {
        get => _std;
        init => _std = Array.AsReadOnly((value ?? throw new ArgumentNullException(nameof(Std))).ToArray());
    }

    /// <summary>The channel order of a three-channel input.</summary>
    public ChannelOrder Order { get; init; } = ChannelOrder.Rgb;

    /// <summary>How images with another channel count than the model's are converted.</summary>
    public ColorConversion Color { get; init; } = ColorConversion.None;

    /// <summary>How images of another size are brought to the model's input size.</summary>
    public ResizePolicy Resize { get; init; } = ResizePolicy.Stretch;

    /// <summary>The layout of the model's input tensor.</summary>
    public InputLayout Layout { get; init; } = InputLayout.Nchw;

    /// <summary>True when a mean and standard deviation are applied.</summary>
    public bool Normalizes => _mean.Count > 0;

    /// <summary>The name of the preset with exactly these values, or null for any other description.</summary>
    public string? PresetName => Presets.FirstOrDefault(p => p.Preprocessing.Equals(this)).Name;

    /// <summary>The lower and upper ends of <see cref="Range"/>.</summary>
    public (float Low, float High) RangeBounds => Range switch
    {
        InputRange.Byte => (0f, 255f),
        InputRange.Symmetric => (-1f, 1f),
        _ => (0f, 1f),
    };

    /// <summary>
    /// Throws <see cref="SecateurException"/> (BadArgument) unless the values are consistent; the parameter is
    /// <c>Mean</c> or <c>Std</c> for a failure of those statistics, else "Preprocessing".
    /// </summary>
    public InputPreprocessing Validated()
    {
        if (!Enum.IsDefined(Range)) throw Bad($"unknown input range {(int)Range}");
        if (!Enum.IsDefined(Order)) throw Bad($"unknown channel order {(int)Order}");
        if (!Enum.IsDefined(Color)) throw Bad($"unknown colour conversion {(int)Color}");
        if (!Enum.IsDefined(Layout)) throw Bad($"unknown input layout {(int)Layout}");
        Resize.Validated();
        if (_mean.Count != _std.Count)
            throw Bad($"the normalisation needs as many means as standard deviations (got {_mean.Count} and {_std.Count})", nameof(Std));
        if (_mean.Count is not (0 or 1 or 3))
            throw Bad($"the normalisation takes one value for every channel or one per channel of a 1- or 3-channel input (got {_mean.Count})", nameof(Mean));
        if (_mean.Any(m => !float.IsFinite(m))) throw Bad("the normalisation means must be finite numbers", nameof(Mean));
        if (_std.Any(s => !(s > 0) || !float.IsFinite(s))) throw Bad("the normalisation standard deviations must be positive numbers", nameof(Std));
        return this;
    }

    /// <summary>
    /// The mean subtracted from channel <paramref name="channel"/> (0 without normalisation), in range units.
    /// </summary>
    /// <exception cref="SecateurException">The description has per-channel statistics for fewer channels.</exception>
    public float MeanOf(int channel) => _mean.Count switch
    {
        0 => 0f,
        1 => _mean[0],
        _ => (uint)channel < (uint)_mean.Count ? _mean[channel] : throw ChannelMismatch(channel + 1),
    };

    /// <summary>The standard deviation channel <paramref name="channel"/> is divided by (1 without normalisation), in range units.</summary>
    /// <exception cref="SecateurException">The description has per-channel statistics for fewer channels.</exception>
    public float StdOf(int channel) => _std.Count switch
    {
        0 => 1f,
        1 => _std[0],
        _ => (uint)channel < (uint)_std.Count ? _std[channel] : throw ChannelMismatch(channel + 1),
    };

    /// <summary>
    /// Throws <see cref="SecateurException"/> (BadArgument, parameter "Preprocessing") unless the per-channel statistics
    /// fit an input of <paramref name="channels"/> channels.
    /// </summary>
    public void CheckChannels(int channels)
    {
        if (_mean.Count > 1 && _mean.Count != channels) throw ChannelMismatch(channels);
    }

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static InputPreprocessing? Preset(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase)).Preprocessing;

    /// <summary>
    /// Parses the compact form (see the remarks of <see cref="InputPreprocessing"/>): a preset name, <c>key=value</c>
    /// pairs, or a preset name followed by pairs that override it, all separated by <c>;</c>. The result is validated.
    /// </summary>
    /// <exception cref="SecateurException">
    /// BadArgument naming what is wrong; its parameter is <c>Mean</c> or <c>Std</c> when those values are at fault, else
    /// "Preprocessing".
    /// </exception>
    public static InputPreprocessing Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw Bad("an input preprocessing description is empty");
        var result = Unit;
        for (int i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                if (i > 0) throw Bad($"'{part}' in '{text}' is not key=value; only the first item may be a preset name");
                if (string.Equals(part, FromDataName, StringComparison.OrdinalIgnoreCase))
                    throw Bad($"'{FromDataName}' is computed from the training images, so it is chosen where the data is loaded, not parsed as a description");
                result = Preset(part) ?? throw Bad($"unknown preprocessing preset '{part}'; the presets are {PresetList}");
                continue;
            }
            var key = part[..eq].Trim().ToLowerInvariant();
            var value = part[(eq + 1)..].Trim();
            var lower = value.ToLowerInvariant();
            result = key switch
            {
                "range" => result with
                {
                    Range = lower switch
                    {
                        "0..1" or "0-1" or "unit" => InputRange.Unit,
                        "0..255" or "0-255" or "byte" => InputRange.Byte,
                        "-1..1" or "symmetric" => InputRange.Symmetric,
                        _ => throw Bad($"unknown input range '{value}'; use 0..1, 0..255 or -1..1"),
                    },
                },
                "mean" => result with { Mean = Floats(value, "mean", nameof(Mean)) },
                "std" => result with { Std = Floats(value, "std", nameof(Std)) },
                "order" => result with
                {
                    Order = lower switch
                    {
                        "rgb" => ChannelOrder.Rgb,
                        "bgr" => ChannelOrder.Bgr,
                        _ => throw Bad($"unknown channel order '{value}'; use rgb or bgr"),
                    },
                },
                "color" => result with
                {
                    Color = lower switch
                    {
                        "none" => ColorConversion.None,
                        "gray-to-rgb" => ColorConversion.GrayToRgb,
                        "rgb-to-gray" => ColorConversion.RgbToGray,
                        _ => throw Bad($"unknown colour conversion '{value}'; use none, gray-to-rgb or rgb-to-gray"),
                    },
                },
                "resize" => result with { Resize = ParseResize(lower, value) },
                "layout" => result with
                {
                    Layout = lower switch
                    {
                        "nchw" => InputLayout.Nchw,
                        "nhwc" => InputLayout.Nhwc,
                        _ => throw Bad($"unknown input layout '{value}'; use nchw or nhwc"),
                    },
                },
                _ => throw Bad($"unknown preprocessing key '{key}' in '{text}'; the keys are range, mean, std, order, color, resize, layout"),
            };
        }
        return result.Validated();
    }

    /// <summary>
    /// The compact form with every field spelt out (never a bare preset name, so that a file's description does not
    /// depend on the preset table of the version that reads it). <see cref="Parse"/> reads it back to an equal value.
    /// </summary>
    public override string ToString()
    {
        var s = new StringBuilder();
        s.Append("range=").Append(Range switch { InputRange.Byte => "0..255", InputRange.Symmetric => "-1..1", _ => "0..1" });
        s.Append(";mean=").AppendJoin(',', _mean.Select(Format));
        s.Append(";std=").AppendJoin(',', _std.Select(Format));
        s.Append(";order=").Append(Order == ChannelOrder.Bgr ? "bgr" : "rgb");
        s.Append(";color=").Append(Color switch { ColorConversion.GrayToRgb => "gray-to-rgb", ColorConversion.RgbToGray => "rgb-to-gray", _ => "none" });
        s.Append(";resize=").Append(Resize.Mode == ResizeMode.Stretch ? "stretch" : "crop:" + Format(Resize.CropFraction));
        s.Append(";layout=").Append(Layout == InputLayout.Nhwc ? "nhwc" : "nchw");
        return s.ToString();
    }

    /// <summary>
    /// A short description for reports and messages, itself a compact form <see cref="Parse"/> reads back: the preset
    /// name when it is one; a preset with the fields that differ from it (<c>unit;layout=nhwc</c>) when the values
    /// are a preset's; otherwise only the fields that differ from <see cref="Unit"/>.
    /// </summary>
    public string Describe()
    {
        if (PresetName is { } name) return name;
        // The preset with the same values and the fewest other differences (imagenet's crop, say).
        var basis = Presets.Where(p => p.Preprocessing.Range == Range && p.Preprocessing._mean.SequenceEqual(_mean) && p.Preprocessing._std.SequenceEqual(_std))
            .Select(p => (p.Name, Fields: Differences(p.Preprocessing))).OrderBy(p => p.Fields.Count).FirstOrDefault();
        return basis.Name is not null ? string.Join(';', basis.Fields.Prepend(basis.Name)) : string.Join(';', Differences(Unit));
    }

    // The key=value items of the compact form that differ from those of the description of `basis`.
    private List<string> Differences(InputPreprocessing basis) =>
        ToString().Split(';').Zip(basis.ToString().Split(';')).Where(x => x.First != x.Second).Select(x => x.First).ToList();

    /// <inheritdoc/>
    public bool Equals(InputPreprocessing? other) =>
        other is not null && Range == other.Range && Order == other.Order && Color == other.Color && Resize == other.Resize
        && Layout == other.Layout && _mean.SequenceEqual(other._mean) && _std.SequenceEqual(other._std);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Range);
        h.Add(Order);
        h.Add(Color);
        h.Add(Resize);
        h.Add(Layout);
        foreach (var m in _mean) h.Add(m);
        foreach (var s in _std) h.Add(s);
        return h.ToHashCode();
    }

    // Failures of the statistics name their property (Mean, Std), so that a front end can point at its own option for
    // it; every other failure names the description as a whole.
    internal static SecateurException Bad(string message, string parameter = ParameterNames.Preprocessing) => new(ErrorCode.BadArgument, message, parameter);

    private static string PresetList => string.Join(", ", Presets.Select(p => p.Name));

    private SecateurException ChannelMismatch(int channels) =>
        Bad($"the input preprocessing has statistics for {_mean.Count} channels, the input has {channels}");

    private static string Format(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static float[] Floats(string value, string key, string parameter)
    {
        if (value.Length == 0) return [];
        var items = value.Split(',', StringSplitOptions.TrimEntries);
        var result = new float[items.Length];
        for (int i = 0; i < items.Length; i++)
            if (!float.TryParse(items[i], NumberStyles.Float, CultureInfo.InvariantCulture, out result[i]))
                throw Bad($"'{items[i]}' in {key}={value} is not a number", parameter);
        return result;
    }

    private static ResizePolicy ParseResize(string lower, string value)
    {
        if (lower == "stretch") return ResizePolicy.Stretch;
        if (lower == "crop") return new ResizePolicy(ResizeMode.CenterCrop);
        if (lower.StartsWith("crop:", StringComparison.Ordinal)
            && float.TryParse(lower[5..], NumberStyles.Float, CultureInfo.InvariantCulture, out var fraction))
            return new ResizePolicy(ResizeMode.CenterCrop, fraction).Validated();
        throw Bad($"unknown resize policy '{value}'; use stretch, crop or crop:FRACTION");
    }
}
