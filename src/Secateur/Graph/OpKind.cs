namespace Secateur.Graph;

/// <summary>
/// The operators a <see cref="ModelGraph"/> may contain: a subset of ONNX's (same names, same semantics,
/// same input order), so that a graph saves to and loads from ONNX without translation.
/// </summary>
public enum OpKind
{
    /// <summary>ONNX Conv: inputs X, W[, B]; attributes strides, pads, dilations, group, kernel_shape.</summary>
    Conv,
    /// <summary>ONNX BatchNormalization: X, scale, B, mean, var; attributes epsilon, momentum.</summary>
    BatchNormalization,
    /// <summary>ONNX Relu.</summary>
    Relu,
    /// <summary>ONNX Clip (ReLU6 is Clip with min 0 and max 6); min/max as attributes or constant inputs.</summary>
    Clip,
    /// <summary>ONNX Sigmoid (SiLU is Sigmoid then Mul).</summary>
    Sigmoid,
    /// <summary>ONNX HardSigmoid: max(0, min(1, alpha·x + beta)).</summary>
    HardSigmoid,
    /// <summary>ONNX HardSwish: x · HardSigmoid(x) with alpha 1/6, beta 0.5.</summary>
    HardSwish,
    /// <summary>ONNX Add with broadcasting.</summary>
    Add,
    /// <summary>ONNX Sub with broadcasting.</summary>
    Sub,
    /// <summary>ONNX Mul with broadcasting.</summary>
    Mul,
    /// <summary>ONNX Div with broadcasting.</summary>
    Div,
    /// <summary>ONNX Concat along <c>axis</c>.</summary>
    Concat,
    /// <summary>ONNX MaxPool.</summary>
    MaxPool,
    /// <summary>ONNX AveragePool.</summary>
    AveragePool,
    /// <summary>ONNX GlobalAveragePool.</summary>
    GlobalAveragePool,
    /// <summary>ONNX Flatten at <c>axis</c> (default 1).</summary>
    Flatten,
    /// <summary>ONNX Reshape with a constant int64 shape input.</summary>
    Reshape,
    /// <summary>ONNX Gemm: alpha·A·op(B) + beta·C, with transA/transB (a Linear layer is transB = 1).</summary>
    Gemm,
    /// <summary>ONNX MatMul.</summary>
    MatMul,
    /// <summary>ONNX Dropout (ratio attribute in Secateur's graphs; identity at inference).</summary>
    Dropout,
    /// <summary>ONNX Identity.</summary>
    Identity,
    /// <summary>ONNX Softmax along <c>axis</c> (default -1).</summary>
    Softmax,
    /// <summary>ONNX Transpose with attribute <c>perm</c> (reversed axes when absent).</summary>
    Transpose,
    /// <summary>ONNX Slice (opset 10+ form): data, starts, ends[, axes[, steps]], the ranges constant int64 initializers.</summary>
    Slice,
    /// <summary>ONNX Pad (opset 11+ form): data, pads[, constant_value], constant initializers; mode constant, reflect or edge.</summary>
    Pad,
    /// <summary>ONNX LeakyRelu: x where x ≥ 0, alpha·x below (attribute alpha, default 0.01).</summary>
    LeakyRelu,
    /// <summary>ONNX PRelu: x where x ≥ 0, slope·x below; the slope (a parameter) is a scalar or one value per channel.</summary>
    PRelu,
    /// <summary>ONNX Elu: x where x &gt; 0, alpha·(eˣ − 1) below (attribute alpha, default 1).</summary>
    Elu,
    /// <summary>ONNX Selu: gamma·Elu(x, alpha) with attributes alpha and gamma (PyTorch's constants by default).</summary>
    Selu,
    /// <summary>ONNX Gelu (opset 20): x·Φ(x), attribute approximate "none" (erf) or "tanh".</summary>
    Gelu,
    /// <summary>ONNX Erf, the Gauss error function (exporters write GELU as x·0.5·(1 + erf(x/√2))).</summary>
    Erf,
    /// <summary>ONNX Tanh.</summary>
    Tanh,
    /// <summary>ONNX Softplus: ln(1 + eˣ).</summary>
    Softplus,
    /// <summary>ONNX Mish (opset 18): x·tanh(softplus(x)).</summary>
    Mish,
    /// <summary>ONNX Neg.</summary>
    Neg,
    /// <summary>ONNX Sqrt.</summary>
    Sqrt,
    /// <summary>ONNX Pow with a constant scalar exponent (input 1).</summary>
    Pow,
    /// <summary>ONNX Sum: elementwise sum of one or more inputs, with broadcasting.</summary>
    Sum,
    /// <summary>ONNX Max: elementwise maximum of one or more inputs, with broadcasting.</summary>
    Max,
    /// <summary>ONNX Min: elementwise minimum of one or more inputs, with broadcasting.</summary>
    Min,
    /// <summary>ONNX GlobalMaxPool: the maximum over every spatial axis.</summary>
    GlobalMaxPool,
    /// <summary>ONNX InstanceNormalization: X, scale, B (per channel); attribute epsilon.</summary>
    InstanceNormalization,
    /// <summary>ONNX LayerNormalization (opset 17): X, Scale[, B], normalised over axes axis..rank−1; attribute epsilon.</summary>
    LayerNormalization,
    /// <summary>ONNX GroupNormalization (opset 18): X, scale, bias; attributes num_groups, epsilon.</summary>
    GroupNormalization,
    /// <summary>ONNX ReduceMean over attribute axes (the opset-13 form), keepdims; over all spatial axes it imports as GlobalAveragePool instead.</summary>
    ReduceMean,
    /// <summary>ONNX DepthToSpace: attribute blocksize, mode DCR (default) or CRD (PixelShuffle).</summary>
    DepthToSpace,
    /// <summary>ONNX SpaceToDepth: attribute blocksize (PixelUnshuffle's block order).</summary>
    SpaceToDepth,
    /// <summary>ONNX Resize (opset 11+ form): X[, roi[, scales[, sizes]]], constant operands; nearest or linear.</summary>
    Resize,
    /// <summary>ONNX ConvTranspose: X, W[, B], W laid out (Cin, Cout/group, kernel...).</summary>
    ConvTranspose,
}

/// <summary>Parsing and naming of <see cref="OpKind"/> values by their ONNX operator name.</summary>
public static class OpKinds
{
    private static readonly Dictionary<string, OpKind> ByName =
        Enum.GetValues<OpKind>().ToDictionary(k => k.ToString(), StringComparer.Ordinal);

    /// <summary>The ONNX op_type of <paramref name="kind"/>.</summary>
    public static string OnnxName(this OpKind kind) => kind.ToString();

    /// <summary>Looks up an ONNX op_type; false when Secateur does not support it.</summary>
    public static bool TryParse(string onnxName, out OpKind kind) => ByName.TryGetValue(onnxName, out kind);
}
