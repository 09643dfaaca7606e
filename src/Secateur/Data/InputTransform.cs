using Secateur.Graph;

namespace Secateur.Data;

/// <summary>
/// Applies an <see cref="InputPreprocessing"/> to images of one shape: colour conversion, channel order, value range and
/// normalisation in one pass per output channel, written in the model's layout (CHW or HWC). The batch builder runs it
/// last, after any augmentation (which works on CHW images in [0, 1]), so NHWC costs no separate permutation pass.
/// </summary>
public sealed class InputTransform
{
    // ITU-R BT.601 luma, the weights PIL's convert("L") uses.
    private static readonly float[] s_luma = [0.299f, 0.587f, 0.114f];

    // Per output channel: the source channels and their weights (one source with weight 1 unless converting to gray).
    private readonly int[][] _sources;
    private readonly float[][] _weights;
    private readonly float[] _low, _span, _mean, _invStd;

    /// <summary>Prepares the transform of images of <paramref name="source"/> shape.</summary>
    /// <param name="preprocessing">The model's input description.</param>
    /// <param name="source">Shape (CHW) of the images, values in [0, 1].</param>
    /// <exception cref="SecateurException">
    /// BadArgument (parameter "Preprocessing") when the images' channels do not fit: another channel count without a
    /// matching colour conversion, or per-channel statistics for another channel count.
    /// </exception>
    public InputTransform(InputPreprocessing preprocessing, ImageShape source)
    {
        ArgumentNullException.ThrowIfNull(preprocessing);
        Preprocessing = preprocessing.Validated();
        source.CheckValid(nameof(source));
        Source = source;
        int outChannels = (preprocessing.Color, source.Channels) switch
        {
            (ColorConversion.GrayToRgb, 1) => 3,
            (ColorConversion.RgbToGray, 3) => 1,
            _ => source.Channels,
        };
        if (outChannels is not (1 or 3) && (preprocessing.Order == ChannelOrder.Bgr || preprocessing.Color != ColorConversion.None))
            throw InputPreprocessing.Bad($"a channel order or colour conversion needs 1- or 3-channel images, these have {source.Channels}");
        preprocessing.CheckChannels(outChannels);
        Output = source with { Channels = outChannels };

        _sources = new int[outChannels][];
        _weights = new float[outChannels][];
        _low = new float[outChannels];
        _span = new float[outChannels];
        _mean = new float[outChannels];
        _invStd = new float[outChannels];
        var (low, high) = preprocessing.RangeBounds;
        for (int c = 0; c < outChannels; c++)
        {
            // The model's channel c holds colour channel 2 - c of an RGB image when it reads BGR.
            int colour = preprocessing.Order == ChannelOrder.Bgr && outChannels == 3 ? 2 - c : c;
            if (outChannels == 1 && source.Channels == 3)
            {
                _sources[c] = [0, 1, 2];
                _weights[c] = s_luma;
            }
            else
            {
                _sources[c] = [source.Channels == 1 ? 0 : colour];
                _weights[c] = [1f];
            }
            _low[c] = low;
            _span[c] = high - low;
            _mean[c] = preprocessing.MeanOf(c);
            _invStd[c] = 1f / preprocessing.StdOf(c);
        }
    }

    /// <summary>The description applied.</summary>
    public InputPreprocessing Preprocessing { get; }

    /// <summary>Shape (CHW) of the images transformed.</summary>
    public ImageShape Source { get; }

    /// <summary>Shape of the result as channels, height, width (whatever the layout).</summary>
    public ImageShape Output { get; }

    /// <summary>The result's dimensions in its layout, without the batch: C, H, W, or H, W, C for NHWC.</summary>
    public long[] SampleShape => Preprocessing.Layout == InputLayout.Nhwc
        ? [Output.Height, Output.Width, Output.Channels]
        : [Output.Channels, Output.Height, Output.Width];

    /// <summary>
    /// Transforms one image: <paramref name="image"/> is CHW of <see cref="Source"/> with values in [0, 1];
    /// <paramref name="destination"/> receives <see cref="ImageShape.Size"/> of <see cref="Output"/> floats in the layout.
    /// </summary>
    public void Apply(ReadOnlySpan<float> image, Span<float> destination)
    {
        if (image.Length < Source.Size)
            throw new ArgumentException($"The image holds {image.Length} floats, {Source} needs {Source.Size}.", nameof(image));
        if (destination.Length < Output.Size)
            throw new ArgumentException($"The destination holds {destination.Length} floats, {Output} needs {Output.Size}.", nameof(destination));
        int plane = Source.PlaneSize, channels = Output.Channels;
        bool hwc = Preprocessing.Layout == InputLayout.Nhwc;
        for (int c = 0; c < channels; c++)
        {
            var sources = _sources[c];
            var weights = _weights[c];
            float low = _low[c], span = _span[c], mean = _mean[c], invStd = _invStd[c];
            var first = image.Slice(sources[0] * plane, plane);
            for (int p = 0; p < plane; p++)
            {
                float u = first[p];
                if (sources.Length > 1)
                {
                    u *= weights[0];
                    for (int k = 1; k < sources.Length; k++) u += weights[k] * image[sources[k] * plane + p];
                }
                // Written as (v − mean)·(1/std) with v = low + span·u, which for [0, 1] is exactly what Normalize computes.
                float v = (low + span * u - mean) * invStd;
                destination[hwc ? p * channels + c : c * plane + p] = v;
            }
        }
    }

    /// <summary>Transforms one image into a new array (see <see cref="Apply(ReadOnlySpan{float}, Span{float})"/>).</summary>
    public float[] Apply(ReadOnlySpan<float> image)
    {
        var result = new float[Output.Size];
        Apply(image, result);
        return result;
    }
}
