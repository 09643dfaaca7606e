using Secateur.Analysis;
using Secateur.Graph;

namespace Secateur.Pruning;

/// <summary>Which channels of which groups to remove.</summary>
public sealed class PruningPlan
{
    /// <summary>Creates a plan from channel indices per group.</summary>
    public PruningPlan(DependencyGraph dependencies, IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> remove)
    {
        Dependencies = dependencies ?? throw new ArgumentNullException(nameof(dependencies));
        Remove = remove ?? throw new ArgumentNullException(nameof(remove));
    }

    /// <summary>The dependency graph the plan refers to.</summary>
    public DependencyGraph Dependencies { get; }

    /// <summary>Channel indices to remove per group.</summary>
    public IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> Remove { get; }

    /// <summary>For a latency target: the measured latencies of the dense and the planned model and the search's candidates.</summary>
    public LatencySearchResult? Latency { get; init; }

    /// <summary>Channels removed in all.</summary>
    public long RemovedChannels => Remove.Values.Sum(r => (long)r.Count);

    /// <summary>Applies the plan: the smaller graph.</summary>
    public ModelGraph Apply() => StructuredPruner.Prune(Dependencies, Remove);
}

/// <summary>
/// Parameters and MACs a graph would have after removing given numbers of channels per group, computed from
/// shapes alone (no weights are copied), so that allocation can search over many candidate plans quickly.
/// </summary>
public sealed class PlanCounter
{
    private readonly DependencyGraph _deps;
    private readonly HashSet<string> _parameters;
    private readonly List<(string Tensor, long[] Shape)> _tensors;
    private readonly List<(long Spatial, string Weight)> _convs = [];
    private readonly List<string> _gemms = [];
    private readonly long _otherMacs;

    /// <summary>Prepares counting for <paramref name="dependencies"/>.</summary>
    public PlanCounter(DependencyGraph dependencies)
    {
        _deps = dependencies ?? throw new ArgumentNullException(nameof(dependencies));
        var g = dependencies.Graph;
        _parameters = g.ParameterNames().ToHashSet(StringComparer.Ordinal);
        _tensors = g.Initializers.Select(kv => (kv.Key, kv.Value.Shape)).ToList();
        var shapes = ShapeInference.Infer(g);
        long other = 0;
        foreach (var n in g.Nodes)
        {
            if (n.Op == OpKind.Conv) _convs.Add((shapes[n.Output].Skip(2).Aggregate(1L, (a, b) => a * b), n.Inputs[1]));
            // A MatMul by a constant (K, N) weight: every row of its output (all axes but the batch and the last) costs K·N.
            else if (n.Op == OpKind.MatMul && g.Initializers.TryGetValue(n.Inputs[1], out var w) && w.Shape.Length == 2 && shapes[n.Output].Length >= 2)
                _convs.Add((shapes[n.Output][1..^1].Aggregate(1L, (a, b) => a * b), n.Inputs[1]));
            else if (n.Op == OpKind.Gemm && n.Int("transA", 0) == 0) _gemms.Add(n.Inputs[1]);
            else other += ModelStats.NodeMacs(n, shapes);
        }
        _otherMacs = other;
        Base = Count(new Dictionary<PruningGroup, long>());
    }

    /// <summary>Parameters and MACs of the unpruned graph.</summary>
    public (long Params, long Macs) Base { get; }

    /// <summary>Parameters and MACs after removing <paramref name="removed"/>[g] channels of each group g.</summary>
    public (long Params, long Macs) Count(IReadOnlyDictionary<PruningGroup, long> removed)
    {
        ArgumentNullException.ThrowIfNull(removed);
        var cut = new Dictionary<(string, int), long>();
        foreach (var (group, count) in removed)
            if (count > 0)
                foreach (var s in group.Slices)
                    // A grouped convolution's input axis holds one block: it loses the count per block; after a DepthToSpace
                    // (CRD) an index is Divisor channels, removed whole.
                    cut[(s.Tensor, s.Axis)] = cut.GetValueOrDefault((s.Tensor, s.Axis)) + (s.Modulo > 0 ? count * s.Modulo / group.Channels : count / s.Divisor) * s.Factor;
        var newShapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long parameters = 0;
        foreach (var (name, shape) in _tensors)
        {
            var s = (long[])shape.Clone();
            for (int axis = 0; axis < s.Length; axis++) s[axis] -= cut.GetValueOrDefault((name, axis));
            newShapes[name] = s;
            if (_parameters.Contains(name)) parameters += TensorData.ElementCount(s);
        }
        long macs = _otherMacs;
        foreach (var (spatial, w) in _convs) macs += spatial * TensorData.ElementCount(newShapes[w]);
        foreach (var w in _gemms) macs += TensorData.ElementCount(newShapes[w]);
        return (parameters, macs);
    }
}
