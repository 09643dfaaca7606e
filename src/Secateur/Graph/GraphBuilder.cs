namespace Secateur.Graph;

/// <summary>
/// Builds a <see cref="ModelGraph"/> layer by layer, initialising weights deterministically from a seed
/// (Kaiming-normal fan-out for convolutions, PyTorch's uniform default for linear layers, ones/zeros for
/// batch norm). Parameter names follow PyTorch's <c>module.weight</c> convention.
/// </summary>
public sealed class GraphBuilder
{
    private readonly ModelGraph _graph;
    private readonly Random _rng;
    private readonly Dictionary<string, long[]> _shapes = new(StringComparer.Ordinal);
    private int _auto;

    /// <summary>Starts a graph with one image input <c>input</c> of shape N×C×H×W.</summary>
    public GraphBuilder(string name, long channels, long height, long width, int seed = 0)
    {
        _graph = new ModelGraph(name);
        _rng = new Random(seed);
        _graph.Inputs.Add(ValueInfo.Batched("input", channels, height, width));
        _shapes["input"] = [1, channels, height, width];
        Input = "input";
    }

    /// <summary>Name of the graph input.</summary>
    public string Input { get; }

    /// <summary>Shape of a value (batch 1).</summary>
    public long[] Shape(string value) => _shapes[value];

    /// <summary>Channels of a 4-D value.</summary>
    public long Channels(string value) => _shapes[value][1];

    /// <summary>Adds a node and records its output shape.</summary>
    public string Add(string name, OpKind op, IEnumerable<string> inputs, params (string Key, AttributeValue Value)[] attributes)
    {
        var node = new Node(name, op, inputs, [name], attributes.Select(a => KeyValuePair.Create(a.Key, a.Value)));
        _graph.Nodes.Add(node);
        var shapes = ShapeInference.Infer(Snapshot());
        _shapes[name] = shapes[name];
        return name;
    }

    private ModelGraph Snapshot()
    {
        // Shape inference only needs the latest node; a view of the graph so far is enough.
        var g = new ModelGraph(_graph.Name);
        g.Inputs.AddRange(_graph.Inputs);
        foreach (var kv in _graph.Initializers) g.Initializers.Add(kv.Key, kv.Value);
        var last = _graph.Nodes[^1];
        foreach (var i in last.Inputs.Where(i => i.Length > 0 && _shapes.ContainsKey(i) && !g.Initializers.ContainsKey(i) && i != Input))
            g.Inputs.Add(new ValueInfo(i, ElementType.Float, _shapes[i].Select(d => new Dim(d)).ToList()));
        g.Nodes.Add(last);
        return g;
    }

    private string Unique(string prefix) => $"{prefix}{_auto++}";

    /// <summary>Adds a named initializer.</summary>
    public string Initializer(string name, TensorData value)
    {
        _graph.Initializers.Add(name, value);
        _shapes[name] = value.Shape;
        return name;
    }

    /// <summary>2-D convolution with square kernel; bias optional; weights Kaiming-normal (fan-out, ReLU gain).</summary>
    public string Conv(string x, string name, long outChannels, long kernel, long stride = 1, long pad = 0, long groups = 1, bool bias = false, long dilation = 1)
    {
        long inChannels = Channels(x);
        long fanOut = outChannels / groups * kernel * kernel;
        var w = Initializer($"{name}.weight", Normal([outChannels, inChannels / groups, kernel, kernel], MathF.Sqrt(2f / fanOut)));
        var inputs = new List<string> { x, w };
        if (bias) inputs.Add(Initializer($"{name}.bias", TensorData.Filled(0f, outChannels)));
        return Add(name, OpKind.Conv, inputs,
            ("dilations", AttributeValue.Of(dilation, dilation)), ("group", AttributeValue.Of(groups)),
            ("kernel_shape", AttributeValue.Of(kernel, kernel)), ("pads", AttributeValue.Of(pad, pad, pad, pad)),
            ("strides", AttributeValue.Of(stride, stride)));
    }

    /// <summary>Batch normalisation over channels (weight 1, bias 0, running mean 0, variance 1).</summary>
    public string BatchNorm(string x, string name, float epsilon = 1e-5f, float momentum = 0.9f)
    {
        long c = Channels(x);
        var inputs = new[]
        {
            x,
            Initializer($"{name}.weight", TensorData.Filled(1f, c)),
            Initializer($"{name}.bias", TensorData.Filled(0f, c)),
            Initializer($"{name}.running_mean", TensorData.Filled(0f, c)),
            Initializer($"{name}.running_var", TensorData.Filled(1f, c)),
        };
        // ONNX momentum is the weight of the old statistic (PyTorch's 0.1 is ONNX's 0.9).
        return Add(name, OpKind.BatchNormalization, inputs, ("epsilon", AttributeValue.Of(epsilon)), ("momentum", AttributeValue.Of(momentum)));
    }

    /// <summary>ReLU.</summary>
    public string Relu(string x, string? name = null) => Add(name ?? Unique("relu"), OpKind.Relu, [x]);

    /// <summary>ReLU6 as ONNX Clip(0, 6) with constant min/max inputs.</summary>
    public string Relu6(string x, string? name = null)
    {
        if (!_graph.Initializers.ContainsKey("const.zero")) Initializer("const.zero", TensorData.FromFloats([0f]));
        if (!_graph.Initializers.ContainsKey("const.six")) Initializer("const.six", TensorData.FromFloats([6f]));
        return Add(name ?? Unique("relu6_"), OpKind.Clip, [x, "const.zero", "const.six"]);
    }

    /// <summary>Elementwise addition (residual connection).</summary>
    public string AddValues(string a, string b, string? name = null) => Add(name ?? Unique("add"), OpKind.Add, [a, b]);

    /// <summary>Max pooling with square window.</summary>
    public string MaxPool(string x, long kernel, long stride, long pad = 0, string? name = null) =>
        Add(name ?? Unique("maxpool"), OpKind.MaxPool, [x], ("kernel_shape", AttributeValue.Of(kernel, kernel)),
            ("pads", AttributeValue.Of(pad, pad, pad, pad)), ("strides", AttributeValue.Of(stride, stride)));

    /// <summary>Average pooling with square window (padding excluded from the mean).</summary>
    public string AvgPool(string x, long kernel, long stride, string? name = null) =>
        Add(name ?? Unique("avgpool"), OpKind.AveragePool, [x], ("kernel_shape", AttributeValue.Of(kernel, kernel)),
            ("strides", AttributeValue.Of(stride, stride)));

    /// <summary>Global average pooling to N×C×1×1.</summary>
    public string GlobalAvgPool(string x, string? name = null) => Add(name ?? Unique("gap"), OpKind.GlobalAveragePool, [x]);

    /// <summary>Flatten to N×(C·H·W).</summary>
    public string Flatten(string x, string? name = null) => Add(name ?? Unique("flatten"), OpKind.Flatten, [x], ("axis", AttributeValue.Of(1L)));

    /// <summary>Dropout with the given ratio (active only in training mode).</summary>
    public string Dropout(string x, float ratio, string? name = null) => Add(name ?? Unique("dropout"), OpKind.Dropout, [x], ("ratio", AttributeValue.Of(ratio)));

    /// <summary>Fully connected layer as Gemm with transB = 1 (weight out×in), PyTorch's default uniform init.</summary>
    public string Linear(string x, string name, long outFeatures, bool bias = true)
    {
        long inFeatures = Shape(x)[^1];
        float bound = 1f / MathF.Sqrt(inFeatures);
        var w = Initializer($"{name}.weight", Uniform([outFeatures, inFeatures], bound));
        var inputs = new List<string> { x, w };
        if (bias) inputs.Add(Initializer($"{name}.bias", Uniform([outFeatures], bound)));
        return Add(name, OpKind.Gemm, inputs, ("alpha", AttributeValue.Of(1f)), ("beta", AttributeValue.Of(1f)), ("transB", AttributeValue.Of(1L)));
    }

    /// <summary>
    /// 2-D transposed convolution (ConvTranspose, weight In×Out×k×k as PyTorch lays it out), no padding; weights
    /// Kaiming-normal over the input fan, the fan a transposed convolution's weight is laid out along.
    /// </summary>
    public string ConvTranspose(string x, string name, long outChannels, long kernel, long stride, bool bias = true)
    {
        long inChannels = Channels(x);
        var w = Initializer($"{name}.weight", Normal([inChannels, outChannels, kernel, kernel], MathF.Sqrt(2f / (inChannels * kernel * kernel))));
        var inputs = new List<string> { x, w };
        if (bias) inputs.Add(Initializer($"{name}.bias", TensorData.Filled(0f, outChannels)));
        return Add(name, OpKind.ConvTranspose, inputs, ("kernel_shape", AttributeValue.Of(kernel, kernel)), ("strides", AttributeValue.Of(stride, stride)));
    }

    /// <summary>SiLU (x · sigmoid(x)) as ONNX Sigmoid then Mul, the form PyTorch exports.</summary>
    public string Silu(string x, string name) => Add(name, OpKind.Mul, [x, Add($"{name}.sigmoid", OpKind.Sigmoid, [x])]);

    /// <summary>Concatenation along the channel axis.</summary>
    public string Concat(IEnumerable<string> values, string name) => Add(name, OpKind.Concat, values, ("axis", AttributeValue.Of(1L)));

    /// <summary>Channels [<paramref name="start"/>, <paramref name="end"/>) of a 4-D value, as ONNX Slice (PyTorch's <c>chunk</c> exports so).</summary>
    public string SliceChannels(string x, long start, long end, string name) =>
        Add(name, OpKind.Slice, [x,
            Initializer($"{name}.starts", TensorData.FromLongs([start], 1)),
            Initializer($"{name}.ends", TensorData.FromLongs([end], 1)),
            Initializer($"{name}.axes", TensorData.FromLongs([1], 1))]);

    /// <summary>Spatial upsampling by an integer <paramref name="factor"/> as ONNX Resize with constant scales: nearest or (bi)linear, half-pixel (PyTorch's align_corners=False).</summary>
    public string Upsample(string x, long factor, bool linear, string name)
    {
        var scales = Initializer($"{name}.scales", TensorData.FromFloats([1f, 1f, factor, factor], 4));
        return linear
            ? Add(name, OpKind.Resize, [x, "", scales], ("mode", AttributeValue.Of("linear")), ("coordinate_transformation_mode", AttributeValue.Of("half_pixel")))
            : Add(name, OpKind.Resize, [x, "", scales], ("mode", AttributeValue.Of("nearest")), ("coordinate_transformation_mode", AttributeValue.Of("asymmetric")),
                ("nearest_mode", AttributeValue.Of("floor")));
    }

    /// <summary>Declares each value as a graph output under its own name (batch symbolic) and returns the graph.</summary>
    public ModelGraph Build(IReadOnlyList<string> outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        foreach (var value in outputs)
            _graph.Outputs.Add(new ValueInfo(value, ElementType.Float, [Dim.Symbolic("N"), .. Shape(value).Skip(1).Select(d => new Dim(d))]));
        GraphValidator.Validate(_graph);
        return _graph;
    }

    /// <summary>Declares <paramref name="value"/> as the graph output (logits N×classes) and returns the graph.</summary>
    public ModelGraph Build(string value, string outputName = "logits")
    {
        if (value != outputName) value = Add(outputName, OpKind.Identity, [value]);
        var shape = Shape(value);
        _graph.Outputs.Add(new ValueInfo(value, ElementType.Float, [Dim.Symbolic("N"), .. shape.Skip(1).Select(d => new Dim(d))]));
        GraphValidator.Validate(_graph);
        return _graph;
    }

    private TensorData Normal(long[] shape, float std)
    {
        var data = new float[TensorData.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++)
        {
            // Box-Muller: deterministic for a seed, independent of libtorch's generator.
            double u1 = 1.0 - _rng.NextDouble(), u2 = _rng.NextDouble();
            data[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return TensorData.FromFloats(data, shape);
    }

    private TensorData Uniform(long[] shape, float bound)
    {
        var data = new float[TensorData.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)((_rng.NextDouble() * 2 - 1) * bound);
        return TensorData.FromFloats(data, shape);
    }
}
