using Secateur.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Runtime;

/// <summary>
/// Executes a <see cref="ModelGraph"/> with TorchSharp: every float initializer that is a parameter becomes a
/// trainable <see cref="Parameter"/>, batch-norm running statistics become buffers, and <c>forward</c>
/// interprets the nodes in order, each with its op's <c>torch.nn.functional</c> kernel from the one table in
/// <see cref="Kernels"/>. Train and eval modes behave as in PyTorch (batch statistics and dropout in training).
/// <see cref="ToGraph"/> copies the current weights back into a new graph.
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
            // The module owns its weights: they must outlive any dispose scope the caller builds it in.
            if (parameters.Contains(name))
            {
                var p = new Parameter(t, requires_grad: true);
                p.DetachFromDisposeScope();
                register_parameter(reg, p);
                _tensors[name] = p;
            }
            else
            {
                t.DetachFromDisposeScope();
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

    /// <summary>
    /// The format convolutions and matrix products compute in (see <see cref="Runtime.Precision"/>); the parameters stay
    /// float32 whatever it is. Setting <see cref="Precision.BFloat16"/> throws <see cref="SecateurException"/>
    /// (DeviceUnavailable) on a device without native bfloat16 arithmetic.
    /// </summary>
    public Precision Precision
    {
        get;
        set
        {
            PrecisionSupport.Require(value, Device);
            field = value;
        }
    }

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
            values[node.Output] = Kernels.For(node)(new KernelCall(this, node, values));
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

    /// <summary>A value of the current run, or an initializer's live tensor.</summary>
    internal Tensor Value(Dictionary<string, Tensor> values, string name) =>
        values.TryGetValue(name, out var v) ? v : _tensors[name];

    /// <summary>A new graph with this module's current parameter and buffer values (structure unchanged).</summary>
    public ModelGraph ToGraph()
    {
        var g = new ModelGraph(_graph.Name);
        g.Nodes.AddRange(_graph.Nodes);
        g.Inputs.AddRange(_graph.Inputs);
        g.Outputs.AddRange(_graph.Outputs);
        foreach (var kv in _graph.Metadata) g.Metadata[kv.Key] = kv.Value;
        g.SourceOpset = _graph.SourceOpset;
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
        if (device is null || device.type == DeviceType.CPU) return t;
        // The CPU copy is only staging for the move; without a scope around the caller it would wait for the GC.
        var moved = t.to(device);
        t.Dispose();
        return moved;
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
