namespace Secateur.Graph.Ops;

/// <summary>
/// ONNX Resize (opset 11+ form): X[, roi[, scales[, sizes]]], the operands constant initializers and exactly one
/// of scales and sizes given. Modes nearest (every nearest_mode) and linear; the coordinate transformation modes
/// half_pixel, pytorch_half_pixel, align_corners and asymmetric; tf_half_pixel_for_nn (ONNX Runtime's results did
/// not match the spec's formula in testing) and tf_crop_and_resize are refused by name. The importer turns
/// batch-following sizes into scales, so a dynamic batch survives. Channels pass through while the batch and
/// channel axes keep scale 1.
/// </summary>
internal sealed class ResizeOp() : OpDefinition(OpKind.Resize, 1, 4)
{
    /// <summary>The coordinate transformation modes whose formulas <see cref="Sources"/> implements.</summary>
    internal static readonly IReadOnlySet<string> CoordinateModes =
        new HashSet<string>(StringComparer.Ordinal) { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric" };

    private static readonly IReadOnlySet<string> NearestModes =
        new HashSet<string>(StringComparer.Ordinal) { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };

    public override bool IsConstantInput(int index) => index >= 1;

    public override int MinOpset => 11;

    protected override string MinOpsetReason => "Resize replaced Upsample in opset 11 (Secateur writes the opset 11+ form)";

    public override void Validate(Node node, ModelGraph graph)
    {
        // Each check names the attribute, so a user sees which part of the node Secateur cannot run.
        string mode = node.String("mode", "nearest");
        if (mode is not ("nearest" or "linear")) throw Unsupported(node, "mode", mode);
        string coord = node.String("coordinate_transformation_mode", "half_pixel");
        if (!CoordinateModes.Contains(coord)) throw Unsupported(node, "coordinate_transformation_mode", coord);
        string nearest = node.String("nearest_mode", "round_prefer_floor");
        if (mode == "nearest" && !NearestModes.Contains(nearest)) throw Unsupported(node, "nearest_mode", nearest);
        if (node.Int("antialias", 0) != 0) throw Unsupported(node, "antialias", "1");
        if (node.Ints("axes") is not null) throw Unsupported(node, "axes", "(any)");
        if (node.String("keep_aspect_ratio_policy", "stretch") is var policy and not "stretch") throw Unsupported(node, "keep_aspect_ratio_policy", policy);
        foreach (var i in new[] { 1, 2, 3 })
            if (node.InputOrNull(i) is { } v && !graph.IsInitializer(v))
                throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Resize): operand '{v}' is computed at run time; Secateur needs it constant");
    }

    public override long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant) =>
        Plan(node, First(node, inputs), constant).Select(a => a.Output).ToArray();

    public override ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes)
    {
        var x = shapes[node.Inputs[0]];
        var plan = Plan(node, x, v => graph.Initializers.GetValueOrDefault(v));
        if (node.InputOrNull(3) is not null)
            // Constant sizes spell out the channel count, which pruning would make wrong.
            return new ChannelRule.SpatialOnly($"'{node.Name}' (Resize) has constant sizes that fix the channel count");
        return new ChannelRule.SpatialOnly(Enumerable.Range(0, Math.Min(2, plan.Length)).Any(i => plan[i].Scale != 1f || plan[i].Output != x[i])
            ? $"'{node.Name}' (Resize) resizes the batch or channel axis"
            : null);
    }

    /// <summary>The output size and the scale ONNX uses in its coordinate formulas, for one axis.</summary>
    internal readonly record struct AxisPlan(long Input, long Output, float Scale);

    /// <summary>Per axis of an input of shape <paramref name="x"/>: the output size and the scale (given, or output/input when sizes are given).</summary>
    internal static AxisPlan[] Plan(Node node, IReadOnlyList<long> x, Func<string, TensorData?> constant)
    {
        var scales = node.InputOrNull(2) is { } s ? constant(s) : null;
        var sizes = node.InputOrNull(3) is { } z ? constant(z) : null;
        if (scales is { Count: 0 }) scales = null;
        if (sizes is { Count: 0 }) sizes = null;
        if ((scales is null) == (sizes is null)) throw Fail(node, "needs exactly one of constant scales and sizes");
        var values = scales ?? sizes!;
        if (values.Count != x.Count) throw Fail(node, $"{(scales is null ? "sizes" : "scales")} has {values.Count} values, input has rank {x.Count}");
        var plan = new AxisPlan[x.Count];
        for (int i = 0; i < x.Count; i++)
        {
            if (scales is not null)
            {
                if (scales.Type != ElementType.Float) throw Fail(node, "scales must be float");
                float scale = scales.Floats[i];
                if (!(scale > 0)) throw Fail(node, $"scale {scale} of axis {i} is not positive");
                // As ONNX Runtime computes it: in float, truncated.
                plan[i] = new AxisPlan(x[i], (long)(scale * (float)x[i]), scale);
            }
            else
            {
                if (sizes!.Type != ElementType.Int64) throw Fail(node, "sizes must be int64");
                long size = sizes.Longs[i];
                if (size <= 0) throw Fail(node, $"size {size} of axis {i} is not positive");
                plan[i] = new AxisPlan(x[i], size, (float)size / x[i]);
            }
        }
        return plan;
    }

    /// <summary>
    /// Where output position k of one axis reads the input: for nearest, <c>Low[k]</c> with weight 1; for linear,
    /// <c>(1 − Weight[k])·in[Low[k]] + Weight[k]·in[High[k]]</c>. Float arithmetic as ONNX Runtime's, so that
    /// nearest picks the same pixel at ties; null when the axis maps every position onto itself.
    /// </summary>
    internal static (long[] Low, long[] High, float[] Weight)? Sources(Node node, AxisPlan axis)
    {
        bool linear = node.String("mode", "nearest") == "linear";
        string coord = node.String("coordinate_transformation_mode", "half_pixel");
        string nearest = node.String("nearest_mode", "round_prefer_floor");
        long n = axis.Output, len = axis.Input;
        var low = new long[n];
        var high = new long[n];
        var weight = new float[n];
        bool identity = n == len;
        for (long k = 0; k < n; k++)
        {
            float x = k;
            float original = coord switch
            {
                "half_pixel" => (x + 0.5f) / axis.Scale - 0.5f,
                "pytorch_half_pixel" => n > 1 ? (x + 0.5f) / axis.Scale - 0.5f : 0f,
                "align_corners" => n == 1 ? 0f : x * (len - 1) / (n - 1),
                "asymmetric" => x / axis.Scale,
                _ => throw Unsupported(node, "coordinate_transformation_mode", coord),
            };
            if (linear)
            {
                float clamped = Math.Clamp(original, 0f, len - 1);
                long lo = Math.Min((long)clamped, len - 1);
                low[k] = lo;
                high[k] = Math.Min(lo + 1, len - 1);
                weight[k] = high[k] == lo ? 0f : clamped - lo;
            }
            else
            {
                double index = nearest switch
                {
                    // x.5 goes down; everything else rounds to nearest.
                    "round_prefer_floor" => original == (long)original + 0.5f ? Math.Floor(original) : Math.Round(original, MidpointRounding.AwayFromZero),
                    "round_prefer_ceil" => Math.Round(original, MidpointRounding.AwayFromZero),
                    "floor" => Math.Floor(original),
                    _ => Math.Ceiling(original),
                };
                low[k] = high[k] = Math.Clamp((long)index, 0, len - 1);
            }
            identity &= low[k] == k && weight[k] == 0f;
        }
        return identity ? null : (low, high, weight);
    }

    private static SecateurException Unsupported(Node node, string attribute, string value) =>
        new(ErrorCode.UnsupportedOp, $"node '{node.Name}' (Resize): {attribute} '{value}' is not supported");
}
