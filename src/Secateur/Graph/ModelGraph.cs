using Secateur.Graph.Ops;

namespace Secateur.Graph;

/// <summary>One dimension of a graph input or output: a fixed size, or a named symbolic size such as a dynamic batch.</summary>
public readonly record struct Dim(long Value, string? Param = null)
{
    /// <summary>A symbolic dimension (ONNX dim_param).</summary>
    public static Dim Symbolic(string param) => new(-1, param);

    /// <summary>True when the size is not fixed.</summary>
    public bool IsSymbolic => Param is not null || Value < 0;

    /// <inheritdoc/>
    public override string ToString() => Param ?? (Value < 0 ? "?" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>A named, typed graph input or output with its dimensions.</summary>
public sealed record ValueInfo(string Name, ElementType Type, IReadOnlyList<Dim> Dims)
{
    /// <summary>A float value with a symbolic batch dimension "N" followed by fixed dimensions.</summary>
    public static ValueInfo Batched(string name, params long[] dims) =>
        new(name, ElementType.Float, [Dim.Symbolic("N"), .. dims.Select(d => new Dim(d))]);

    /// <summary>The dimensions with every symbolic one replaced by <paramref name="batch"/>.</summary>
    public long[] Concrete(long batch = 1) => Dims.Select(d => d.IsSymbolic ? batch : d.Value).ToArray();

    /// <summary>Dimensions as text, e.g. <c>Nx1x28x28</c>.</summary>
    public string ShapeText => string.Join('x', Dims);
}

/// <summary>
/// Secateur's one model representation: ordered nodes (topological order), named weight tensors
/// (initializers), and input/output signatures. Its op set is a subset of ONNX's, so it saves to and
/// loads from ONNX losslessly. Zoo builders and the ONNX importer produce it; the runtime executes it;
/// pruning rewrites it into a new, smaller graph.
/// </summary>
public sealed class ModelGraph
{
    /// <summary>Creates an empty graph.</summary>
    public ModelGraph(string name = "model") => Name = name;

    /// <summary>Graph name.</summary>
    public string Name { get; set; }

    /// <summary>Nodes in execution (topological) order.</summary>
    public List<Node> Nodes { get; } = [];

    /// <summary>Weights and constants by name, in insertion order.</summary>
    public OrderedDictionary<string, TensorData> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>Graph inputs (not including initializers).</summary>
    public List<ValueInfo> Inputs { get; } = [];

    /// <summary>Graph outputs.</summary>
    public List<ValueInfo> Outputs { get; } = [];

    /// <summary>
    /// The ai.onnx opset of the file the graph was imported from, or null (zoo models, built graphs). Saving with no
    /// explicit opset keeps it when it is newer than the automatic choice; pruning and training keep it.
    /// </summary>
    public int? SourceOpset { get; set; }

    /// <summary>Free-form metadata saved as ONNX metadata_props (e.g. class names, normalisation).</summary>
    public SortedDictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// What the model expects as input, or null when it records none (e.g. an ONNX file from elsewhere). Kept in
    /// <see cref="Metadata"/> under <see cref="InputPreprocessing.MetadataKey"/>, in its compact form, so that every
    /// step that copies a graph's metadata (cloning, pruning, fine-tuning, saving) keeps it without knowing of it.
    /// Setting null removes it.
    /// </summary>
    /// <exception cref="SecateurException">BadFile on reading, when the recorded text is not a valid description.</exception>
    public InputPreprocessing? Preprocessing
    {
        get
        {
            if (!Metadata.TryGetValue(InputPreprocessing.MetadataKey, out var text)) return null;
            try { return InputPreprocessing.Parse(text); }
            catch (SecateurException e)
            {
                throw new SecateurException(ErrorCode.BadFile,
                    $"model '{Name}' records an invalid input preprocessing ({InputPreprocessing.MetadataKey} = '{text}'): {e.Message}", e);
            }
        }
        set
        {
            if (value is null) Metadata.Remove(InputPreprocessing.MetadataKey);
            else Metadata[InputPreprocessing.MetadataKey] = value.Validated().ToString();
        }
    }

    /// <summary>The node that writes <paramref name="value"/>, or null for a graph input or initializer.</summary>
    public Node? Producer(string value) => Nodes.FirstOrDefault(n => n.Outputs.Contains(value));

    /// <summary>Nodes that read <paramref name="value"/>, in order.</summary>
    public IEnumerable<Node> Consumers(string value) => Nodes.Where(n => n.Inputs.Contains(value));

    /// <summary>The node called <paramref name="name"/>, or null.</summary>
    public Node? FindNode(string name) => Nodes.FirstOrDefault(n => n.Name == name);

    /// <summary>True when <paramref name="value"/> is an initializer.</summary>
    public bool IsInitializer(string value) => Initializers.ContainsKey(value);

    /// <summary>
    /// Names of trainable parameters: float initializers other than batch-norm running statistics and
    /// constant operands of shape, slice, pad or clip ops (what <see cref="OpDefinition.IsConstantInput"/> marks). Their element count is the model's parameter count.
    /// </summary>
    public IReadOnlyList<string> ParameterNames()
    {
        var buffers = BufferNames().ToHashSet(StringComparer.Ordinal);
        var constants = ConstantNames();
        return Initializers.Where(kv => kv.Value.Type == ElementType.Float && !buffers.Contains(kv.Key) && !constants.Contains(kv.Key))
            .Select(kv => kv.Key).ToList();
    }

    /// <summary>Names of non-trainable state: batch-norm running mean and variance (what <see cref="OpDefinition.IsRunningStatistic"/> marks).</summary>
    public IReadOnlyList<string> BufferNames()
    {
        var set = InputsWhere((d, i) => d.IsRunningStatistic(i));
        return Initializers.Keys.Where(k => set.Contains(k) && IsInitializer(k)).ToList();
    }

    private HashSet<string> ConstantNames() => InputsWhere((d, i) => d.IsConstantInput(i));

    // The values read at input positions that the op's definition marks, e.g. constant operands or running statistics.
    private HashSet<string> InputsWhere(Func<OpDefinition, int, bool> marked)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            var definition = OpRegistry.For(n);
            for (int i = 0; i < n.Inputs.Count; i++)
                if (n.InputOrNull(i) is { } v && marked(definition, i)) set.Add(v);
        }
        return set;
    }

    /// <summary>Total number of trainable parameter elements.</summary>
    public long ParameterCount() => ParameterNames().Sum(n => Initializers[n].Count);

    /// <summary>A deep copy (tensors copied).</summary>
    public ModelGraph Clone()
    {
        var g = new ModelGraph(Name);
        g.Nodes.AddRange(Nodes);
        foreach (var kv in Initializers) g.Initializers.Add(kv.Key, kv.Value.Clone());
        g.Inputs.AddRange(Inputs);
        g.Outputs.AddRange(Outputs);
        foreach (var kv in Metadata) g.Metadata[kv.Key] = kv.Value;
        g.SourceOpset = SourceOpset;
        return g;
    }
}
