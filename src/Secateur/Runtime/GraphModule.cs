using Secateur.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Runtime;

/// <summary>
/// Executes a <see cref="ModelGraph"/> with TorchSharp: every float initializer that is a parameter becomes a
/// trainable <see cref="Parameter"/>, batch-norm running statistics become buffers, and <c>forward</c>
/// interprets the nodes in order with <c>torch.nn.functional</c> kernels. Train and eval modes behave as in
/// PyTorch (batch statistics and dropout in training). <see cref="ToGraph"/> copies the current weights back
/// into a new graph.
/// </summary>
public sealed class GraphModule : nn.Module<Tensor, Tensor>
{
    private readonly ModelGraph _graph;
    private readonly Dictionary<string, Tensor> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _registeredName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _lastUse = new(StringComparer.Ordinal);
    private readonly HashSet<string> _outputs;

    /// <summary>Builds the module on <paramref name="device"/> (CPU when null).</summary>
    public GraphModule(ModelGraph graph, Device? device = null) : base(Prepare(graph))
    {
        GraphValidator.Validate(graph);
        _graph = graph;
        Device = device ?? CPU;
        var parameters = graph.ParameterNames().ToHashSet(StringComparer.Ordinal);
        var buffers = graph.BufferNames().ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, data) in graph.Initializers)
        {
            var t = ToTensor(data, Device);
            var reg = Sanitize(name, used);
            _registeredName[name] = reg;
            if (parameters.Contains(name))
            {
                var p = new Parameter(t, requires_grad: true);
                register_parameter(reg, p);
                _tensors[name] = p;
            }
            else
            {
                // Buffers are saved and moved with the module; constants (shapes, clip bounds) too.
                register_buffer(reg, t, persistent: buffers.Contains(name));
                _tensors[name] = t;
            }
        }
        for (int i = 0; i < graph.Nodes.Count; i++)
            foreach (var v in graph.Nodes[i].Inputs.Where(v => v.Length > 0))
                _lastUse[v] = i;
        _outputs = graph.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
    }

    // The base constructor already calls into libtorch, so the native library must be ready before it runs.
    private static string Prepare(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        NativeLibraries.EnsureTorch();
        return graph.Name;
    }

    /// <summary>
    /// When set, the PyTorch-convention momentum (weight of the new batch statistic) every batch norm uses in
    /// training mode instead of its own: batch-norm recalibration sets 1/k on the k-th batch to get exact averages.
    /// </summary>
    public double? BatchNormMomentum { get; set; }

    /// <summary>The device the parameters live on.</summary>
    public Device Device { get; }

    /// <summary>The graph this module executes (its initializers hold the weights it was built with).</summary>
    public ModelGraph Graph => _graph;

    /// <summary>The live tensor of initializer <paramref name="name"/> (parameter, buffer or constant).</summary>
    public Tensor Tensor(string name) => _tensors.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"'{name}' is not an initializer of graph '{_graph.Name}'");

    /// <summary>Trainable parameters by graph name, in graph order.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> GraphParameters() =>
        _graph.Initializers.Keys.Where(k => _tensors[k] is Parameter).Select(k => (k, (Parameter)_tensors[k]));

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        var result = Run(new Dictionary<string, Tensor> { [_graph.Inputs[0].Name] = input });
        return result[_graph.Outputs[0].Name];
    }

    /// <summary>
    /// Runs the graph on named inputs and returns the graph outputs plus any <paramref name="capture"/>d
    /// intermediate values (for feature-based criteria). Under no-grad, values are disposed after their last use.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyCollection<string>? capture = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var i in _graph.Inputs)
        {
            if (!inputs.TryGetValue(i.Name, out var t))
                throw new SecateurException(ErrorCode.BadArgument, $"graph input '{i.Name}' was not given");
            values[i.Name] = t;
        }
        bool release = !is_grad_enabled();
        for (int n = 0; n < _graph.Nodes.Count; n++)
        {
            var node = _graph.Nodes[n];
            values[node.Output] = Execute(node, values);
            if (!release) continue;
            foreach (var v in node.Inputs)
                if (v.Length > 0 && _lastUse[v] == n && !_tensors.ContainsKey(v) && !inputs.ContainsKey(v)
                    && !_outputs.Contains(v) && (capture is null || !capture.Contains(v)) && values.Remove(v, out var dead))
                    dead.Dispose();
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var o in _graph.Outputs) result[o.Name] = values[o.Name];
        if (capture is not null)
            foreach (var c in capture)
                result[c] = values.TryGetValue(c, out var t) ? t : throw new SecateurException(ErrorCode.BadArgument, $"no value '{c}' to capture");
        return result;
    }

    private Tensor Value(Dictionary<string, Tensor> values, string name) =>
        values.TryGetValue(name, out var v) ? v : _tensors[name];

    private Tensor Execute(Node node, Dictionary<string, Tensor> values)
    {
        Tensor In(int i) => Value(values, node.Inputs[i]);
        Tensor? Opt(int i) => node.InputOrNull(i) is { } name ? Value(values, name) : null;
        switch (node.Op)
        {
            case OpKind.Conv: return Conv(node, In(0), In(1), Opt(2));
            case OpKind.BatchNormalization:
                // ONNX momentum weighs the old statistic; PyTorch's weighs the new one.
                return F.batch_norm(In(0), In(3), In(4), In(1), In(2), training,
                    BatchNormMomentum ?? 1.0 - Exact(node.Float("momentum", 0.9f)), Exact(node.Float("epsilon", 1e-5f)));
            case OpKind.Relu: return F.relu(In(0));
            case OpKind.Clip:
                {
                    double? lo = Opt(1) is { } a ? a.item<float>() : node.Attributes.ContainsKey("min") ? node.Float("min", 0) : null;
                    double? hi = Opt(2) is { } b ? b.item<float>() : node.Attributes.ContainsKey("max") ? node.Float("max", 0) : null;
                    if (lo == 0 && hi == 6) return F.relu6(In(0));
                    using var min = lo?.ToScalar();
                    using var max = hi?.ToScalar();
                    return clamp(In(0), min, max);
                }
            case OpKind.Sigmoid: return sigmoid(In(0));
            case OpKind.HardSigmoid:
                {
                    float alpha = node.Float("alpha", 0.2f), beta = node.Float("beta", 0.5f);
                    if (Math.Abs(alpha - 1f / 6f) < 1e-7f && beta == 0.5f) return F.hardsigmoid(In(0));
                    using var a = alpha.ToScalar();
                    using var b = beta.ToScalar();
                    return clamp(In(0).mul(a).add(b, KeptScalars.One), KeptScalars.Zero, KeptScalars.One);
                }
            case OpKind.HardSwish: return F.hardswish(In(0));
            // Not `+`: it passes a temporary alpha Scalar that the GC may finalise mid-call (see KeptScalars).
            case OpKind.Add: return In(0).add(In(1), KeptScalars.One);
            case OpKind.Sub: return In(0) - In(1);
            case OpKind.Mul: return In(0) * In(1);
            case OpKind.Div: return In(0) / In(1);
            case OpKind.Concat:
                {
                    var parts = node.Inputs.Where(i => i.Length > 0).Select(i => Value(values, i)).ToArray();
                    return cat(parts, node.Int("axis", 1));
                }
            case OpKind.MaxPool: return Pool(node, In(0), max: true);
            case OpKind.AveragePool: return Pool(node, In(0), max: false);
            case OpKind.GlobalAveragePool:
                {
                    var x = In(0);
                    var dims = Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d).ToArray();
                    return x.mean(dims, keepdim: true);
                }
            case OpKind.Flatten:
                {
                    var x = In(0);
                    long axis = node.Int("axis", 1);
                    if (axis < 0) axis += x.dim();
                    long outer = x.shape.Take((int)axis).Aggregate(1L, (a, b) => a * b);
                    return x.reshape(outer, -1);
                }
            case OpKind.Reshape:
                {
                    var x = In(0);
                    var target = _graph.Initializers[node.Inputs[1]].Longs.ToArray();
                    if (node.Int("allowzero", 0) == 0)
                        for (int i = 0; i < target.Length; i++)
                            if (target[i] == 0) target[i] = x.shape[i];
                    return x.reshape(target);
                }
            case OpKind.Gemm: return Gemm(node, In(0), In(1), Opt(2));
            case OpKind.MatMul: return matmul(In(0), In(1));
            case OpKind.Dropout: return F.dropout(In(0), node.Float("ratio", 0.5f), training);
            case OpKind.Identity: return In(0).alias();
            case OpKind.Softmax: return F.softmax(In(0), node.Int("axis", -1));
            case OpKind.Transpose:
                {
                    var x = In(0);
                    return x.permute(ShapeInference.Permutation(node, (int)x.dim()).Select(p => (long)p).ToArray());
                }
            case OpKind.Slice: return Slice(node, In(0));
            case OpKind.Pad: return Pad(node, In(0));
            default: throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': op {node.Op} cannot be executed");
        }
    }

    /// <summary>
    /// The double a float attribute was written as: ONNX stores 1e-5 as a float, and widening that float gives
    /// 9.99999975e-6, not PyTorch's 1e-5; the shortest round-trip text recovers the intended decimal.
    /// </summary>
    private static double Exact(float value) => double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    private static (long[] Begin, long[] End, long[] Strides, long[] Dilations, long[] Kernel) Geometry(Node node, Tensor x, long[] kernel)
    {
        int n = (int)x.dim() - 2;
        long[] Attr(string a) => node.Ints(a)?.ToArray() ?? Enumerable.Repeat(1L, n).ToArray();
        var strides = Attr("strides");
        var dil = Attr("dilations");
        var (b, e) = ShapeInference.Pads(node, x.shape[2..], kernel, strides, dil);
        return (b, e, strides, dil, kernel);
    }

    /// <summary>Pads asymmetrically when ONNX pads differ at the two ends; returns the symmetric remainder.</summary>
    private static (Tensor X, long[] Padding) Symmetric(Tensor x, long[] begin, long[] end, double fill)
    {
        if (begin.SequenceEqual(end)) return (x, begin);
        var pad = new long[begin.Length * 2];
        // F.pad lists the last dimension first: (wBegin, wEnd, hBegin, hEnd).
        for (int i = 0; i < begin.Length; i++)
        {
            pad[2 * i] = begin[begin.Length - 1 - i];
            pad[2 * i + 1] = end[begin.Length - 1 - i];
        }
        return (F.pad(x, pad, PaddingModes.Constant, fill), new long[begin.Length]);
    }

    private static Tensor Conv(Node node, Tensor x, Tensor w, Tensor? b)
    {
        var g = Geometry(node, x, w.shape[2..]);
        var (input, padding) = Symmetric(x, g.Begin, g.End, 0);
        long groups = node.Int("group", 1);
        return x.dim() switch
        {
            3 => F.conv1d(input, w, b, g.Strides[0], padding[0], g.Dilations[0], groups),
            4 => F.conv2d(input, w, b, g.Strides, padding, g.Dilations, groups),
            5 => F.conv3d(input, w, b, g.Strides, padding, g.Dilations, groups),
            _ => throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': Conv on rank-{x.dim()} input"),
        };
    }

    private static Tensor Pool(Node node, Tensor x, bool max)
    {
        var kernel = node.Ints("kernel_shape")!.ToArray();
        if (x.dim() != 4) throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': {node.Op} on rank-{x.dim()} input (only 2-D pooling)");
        var g = Geometry(node, x, kernel);
        bool ceil = node.Int("ceil_mode", 0) != 0;
        bool symmetric = g.Begin.SequenceEqual(g.End) && g.Begin.Zip(kernel).All(p => p.First * 2 <= p.Second);
        if (max)
        {
            var (input, padding) = symmetric ? (x, g.Begin) : Symmetric(x, g.Begin, g.End, double.NegativeInfinity);
            return F.max_pool2d(input, kernel, g.Strides, padding, g.Dilations, ceil);
        }
        bool includePad = node.Int("count_include_pad", 0) != 0;
        if (symmetric) return F.avg_pool2d(x, kernel, g.Strides, g.Begin, ceil, includePad);
        if (!includePad)
        {
            // Average over the real elements only: pool a ones-mask the same way and divide.
            var (px, _) = Symmetric(x, g.Begin, g.End, 0);
            var (pm, _) = Symmetric(ones_like(x), g.Begin, g.End, 0);
            return F.avg_pool2d(px, kernel, g.Strides, ceil_mode: ceil) / F.avg_pool2d(pm, kernel, g.Strides, ceil_mode: ceil);
        }
        var (padded, zero) = Symmetric(x, g.Begin, g.End, 0);
        return F.avg_pool2d(padded, kernel, g.Strides, zero, ceil, true);
    }

    private Tensor Slice(Node node, Tensor x)
    {
        foreach (var (axis, r) in ShapeInference.SliceRanges(node, x.shape, name => _graph.Initializers.GetValueOrDefault(name)))
        {
            if (r.Step > 0) x = x.slice(axis, r.Start, r.Start + r.Step * r.Count, r.Step);
            else
            {
                // libtorch slices only forwards; a backward slice gathers its indices.
                using var index = arange(r.Start, r.Start + r.Step * r.Count, r.Step, dtype: ScalarType.Int64, device: x.device);
                x = x.index_select(axis, index);
            }
        }
        return x;
    }

    private Tensor Pad(Node node, Tensor x)
    {
        int rank = (int)x.dim();
        var pads = ShapeInference.PadAmounts(node, rank, name => _graph.Initializers.GetValueOrDefault(name));
        // F.pad lists the last axis first and may stop at the outermost padded axis.
        int first = Enumerable.Range(0, rank).FirstOrDefault(i => pads[i] != 0 || pads[i + rank] != 0, rank);
        if (first == rank) return x.alias();
        var list = new List<long>();
        for (int i = rank - 1; i >= first; i--) { list.Add(pads[i]); list.Add(pads[i + rank]); }
        var mode = node.String("mode", "constant") switch
        {
            "reflect" => PaddingModes.Reflect,
            "edge" => PaddingModes.Replicate,
            _ => PaddingModes.Constant,
        };
        double fill = node.InputOrNull(2) is { } f ? _graph.Initializers[f].Floats[0] : 0;
        return F.pad(x, list.ToArray(), mode, fill);
    }

    private static Tensor Gemm(Node node, Tensor a, Tensor b, Tensor? c)
    {
        float alpha = node.Float("alpha", 1f), beta = node.Float("beta", 1f);
        bool ta = node.Int("transA", 0) != 0, tb = node.Int("transB", 0) != 0;
        if (!ta && tb && alpha == 1f && (beta == 1f || c is null)) return F.linear(a, b, c);
        var y = matmul(ta ? a.t() : a, tb ? b.t() : b);
        using var sa = alpha.ToScalar();
        using var sb = beta.ToScalar();
        if (alpha != 1f) y = y.mul(sa);
        if (c is not null) y = y.add(beta == 1f ? c : c.mul(sb), KeptScalars.One);
        return y;
    }

    /// <summary>A new graph with this module's current parameter and buffer values (structure unchanged).</summary>
    public ModelGraph ToGraph()
    {
        var g = new ModelGraph(_graph.Name);
        g.Nodes.AddRange(_graph.Nodes);
        g.Inputs.AddRange(_graph.Inputs);
        g.Outputs.AddRange(_graph.Outputs);
        foreach (var kv in _graph.Metadata) g.Metadata[kv.Key] = kv.Value;
        foreach (var (name, data) in _graph.Initializers)
            g.Initializers.Add(name, FromTensor(_tensors[name], data.Type));
        return g;
    }

    /// <summary>Copies managed tensor data into a torch tensor on <paramref name="device"/>.</summary>
    public static Tensor ToTensor(TensorData data, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        NativeLibraries.EnsureTorch();
        var t = data.Type == ElementType.Float ? tensor(data.Floats, data.Shape) : tensor(data.Longs, data.Shape);
        return device is null || device.type == DeviceType.CPU ? t : t.to(device);
    }

    /// <summary>Copies a torch tensor back into managed memory.</summary>
    public static TensorData FromTensor(Tensor t, ElementType type = ElementType.Float)
    {
        ArgumentNullException.ThrowIfNull(t);
        using var scope = NewDisposeScope();
        var cpu = t.detach().cpu().contiguous();
        return type == ElementType.Float
            ? TensorData.FromFloats(cpu.to_type(ScalarType.Float32).data<float>().ToArray(), t.shape)
            : TensorData.FromLongs(cpu.to_type(ScalarType.Int64).data<long>().ToArray(), t.shape);
    }

    private static string Sanitize(string name, HashSet<string> used)
    {
        // TorchSharp module names may not contain '.'; keep them readable and unique.
        var s = name.Replace('.', '_');
        var candidate = s;
        for (int i = 1; !used.Add(candidate); i++) candidate = $"{s}_{i}";
        return candidate;
    }
}

/// <summary>
/// Scalars that live as long as the process. TorchSharp turns numbers into <see cref="Scalar"/> wrappers and passes
/// only their native handle on; a temporary wrapper is then unreachable and the GC's finaliser thread may free the
/// native scalar while libtorch is still reading it — seen as intermittent "Scalar toFloat" failures in busy test
/// runs. Every Scalar the runtime passes is therefore either one of these or a local disposed after the call.
/// </summary>
internal static class KeptScalars
{
    /// <summary>0.</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>1, also the alpha of additions and subtractions.</summary>
    public static readonly Scalar One = 1.ToScalar();
}
