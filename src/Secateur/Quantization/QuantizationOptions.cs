namespace Secateur.Quantization;

/// <summary>How activation ranges are taken from the calibration data.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen: nothing saturates, but one outlier widens the step for all values.</summary>
    MinMax,
    /// <summary>The lower and upper <see cref="QuantizationOptions.Percentile"/> of the values: rare outliers saturate, the rest get a finer step.</summary>
    Percentile,
}

/// <summary>How <see cref="Int8Quantizer"/> calibrates and quantizes a model.</summary>
public sealed record QuantizationOptions
{
    /// <summary>Default number of calibration images.</summary>
    public const int DefaultCalibrationImages = 512;

    /// <summary>How activation ranges are computed.</summary>
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    /// <summary>The upper percentile that percentile calibration uses when none is given.</summary>
    public const double DefaultPercentile = 99.99;

    /// <summary>
    /// With <see cref="CalibrationMethod.Percentile"/>: the upper percentile (the lower one is 100 minus it), in (50, 100];
    /// null for <see cref="DefaultPercentile"/>. Giving one with min-max calibration is a mistake, not a no-op.
    /// </summary>
    public double? Percentile { get; init; }

    /// <summary>The percentile calibration uses: <see cref="Percentile"/> or the default.</summary>
    public double EffectivePercentile => Percentile ?? DefaultPercentile;

    /// <summary>Images run through the float model to calibrate activation ranges.</summary>
    public int CalibrationImages { get; init; } = DefaultCalibrationImages;

    /// <summary>
    /// Weights in 7 bits (−63…63) instead of 8 (−127…127). ONNX Runtime's uint8 × int8 kernels on x86 CPUs without
    /// VNNI (AVX2, AVX-512F) add pairs of products in 16 bits, which saturates when 255 · 127 · 2 exceeds 32,767;
    /// with 7-bit weights it cannot. On by default: a saturating kernel silently changes the results.
    /// </summary>
    public bool ReduceRange { get; init; } = true;

    /// <summary>Images per calibration batch.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Parses <c>minmax</c> or <c>percentile</c>.</summary>
    /// <exception cref="SecateurException">BadArgument for any other name.</exception>
    public static CalibrationMethod ParseMethod(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "minmax" or "min-max" => CalibrationMethod.MinMax,
        "percentile" => CalibrationMethod.Percentile,
        _ => throw new SecateurException(ErrorCode.BadArgument, $"unknown calibration method '{text}': use minmax or percentile"),
    };

    /// <summary>Checks the values.</summary>
    /// <exception cref="SecateurException">BadArgument for a value out of range.</exception>
    public QuantizationOptions Validated()
    {
        if (!Enum.IsDefined(Method)) throw new SecateurException(ErrorCode.BadArgument, $"unknown calibration method {Method}");
        if (Method == CalibrationMethod.MinMax && Percentile is not null)
            throw new SecateurException(ErrorCode.BadArgument, "a percentile applies only to percentile calibration", nameof(Percentile));
        if (!(EffectivePercentile > 50 && EffectivePercentile <= 100))
            throw new SecateurException(ErrorCode.BadArgument, $"the calibration percentile must be in (50, 100] (got {EffectivePercentile})", nameof(Percentile));
        if (CalibrationImages < 1) throw new SecateurException(ErrorCode.BadArgument, $"calibration needs at least 1 image (got {CalibrationImages})", nameof(CalibrationImages));
        if (BatchSize < 1) throw new SecateurException(ErrorCode.BadArgument, $"the calibration batch size must be at least 1 (got {BatchSize})");
        return this;
    }
}

/// <summary>The calibrated range of one activation tensor and the uint8 quantization it gets.</summary>
/// <param name="Min">Lower end of the range (as calibrated; the quantization also covers 0).</param>
/// <param name="Max">Upper end of the range.</param>
public sealed record ActivationRange(float Min, float Max)
{
    /// <summary>Per-tensor asymmetric uint8 parameters: the range widened to include 0 (so that 0 is exact, as padding
    /// needs), scale = (max − min) / 255 and zero point = round(−min / scale).</summary>
    public (float Scale, byte ZeroPoint) Uint8()
    {
        float lo = Math.Min(Min, 0f), hi = Math.Max(Max, 0f);
        // A tensor that is all zeros still needs a positive scale; any will do, every value quantizes to the zero point.
        if (!(hi - lo > 0)) return (1f / 255f, 0);
        float scale = (hi - lo) / 255f;
        double zp = Math.Round(-lo / scale, MidpointRounding.ToEven);
        return (scale, (byte)Math.Clamp(zp, 0, 255));
    }
}
