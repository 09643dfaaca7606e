using Secateur.Graph;

namespace Secateur.Pruning;

/// <summary>What a <see cref="ChannelSlice"/> removes from its tensor when a channel of its group goes.</summary>
public enum SliceRole
{
    /// <summary>Output channels of a Conv or Gemm that creates the group (weight rows, bias entries).</summary>
    Producer,
    /// <summary>Per-channel parameters along the channel axis: batch-norm scale, shift and statistics; depthwise conv filters; per-channel constants.</summary>
    PerChannel,
    /// <summary>Input channels of a Conv, or input features of a Gemm, that reads the group (weight columns).</summary>
    Consumer,
}

/// <summary>
/// One tensor dimension tied to a group: removing channel <c>j</c> of the group removes indices
/// <c>[(Offset + j)·Factor, (Offset + j + 1)·Factor)</c> along <c>Axis</c> of <c>Tensor</c>.
/// </summary>
/// <param name="Node">The node the tensor belongs to.</param>
/// <param name="Tensor">Initializer name.</param>
/// <param name="Axis">Axis of the initializer to slice.</param>
/// <param name="Offset">Where the group starts along the axis, in channels (non-zero after a Concat).</param>
/// <param name="Factor">Elements per channel along the axis (H·W for a Linear after Flatten, else 1).</param>
/// <param name="Role">What kind of dependency this is.</param>
public sealed record ChannelSlice(string Node, string Tensor, int Axis, long Offset, long Factor, SliceRole Role);

/// <summary>
/// The unit of structured pruning: a set of channels that must be removed together — a producer's output
/// channels with every batch norm, depthwise filter and consumer input that follows them, across residual
/// additions and concatenations. Channel <c>j</c> of a group is one channel in every one of its slices.
/// </summary>
public sealed class PruningGroup
{
    internal PruningGroup(int id, long channels, IReadOnlyList<ChannelSlice> slices, IReadOnlyList<string> values, string? blockedReason)
    {
        Id = id;
        Channels = channels;
        Slices = slices;
        Values = values;
        BlockedReason = blockedReason;
    }

    /// <summary>Index in <see cref="DependencyGraph.Groups"/>.</summary>
    public int Id { get; }

    /// <summary>Number of channels.</summary>
    public long Channels { get; }

    /// <summary>Every tensor dimension that changes when a channel is removed.</summary>
    public IReadOnlyList<ChannelSlice> Slices { get; }

    /// <summary>Graph values whose channel axis carries (part of) this group.</summary>
    public IReadOnlyList<string> Values { get; }

    /// <summary>Why the group cannot be pruned, or null when it can.</summary>
    public string? BlockedReason { get; }

    /// <summary>True when the group can be pruned.</summary>
    public bool Prunable => BlockedReason is null;

    /// <summary>Nodes creating the group's channels (their outputs are the group).</summary>
    public IEnumerable<string> Producers => Slices.Where(s => s.Role == SliceRole.Producer).Select(s => s.Node).Distinct();

    /// <summary>A short name: the first producer, or the first value.</summary>
    public string Name => Producers.FirstOrDefault() ?? Values.FirstOrDefault() ?? $"group{Id}";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Channels} channels, {Slices.Count} slices{(Prunable ? "" : ", blocked: " + BlockedReason)})";
}

/// <summary>
/// Channel dependencies of a <see cref="ModelGraph"/>, computed exactly from the graph (no tracing): every
/// value's channel axis is described as a sequence of segments of groups; elementwise ops and batch norm keep
/// the layout, residual Add/Sub/Mul unify the groups of their operands, Concat joins layouts, depthwise
/// convolutions tie output to input channels, Flatten multiplies a channel into H·W features. Ops whose
/// effect on channels cannot be traced block the groups they touch instead of corrupting them.
/// </summary>
public sealed class DependencyGraph
{
    private readonly record struct Segment(int Group, long Length);

    private DependencyGraph(ModelGraph graph, IReadOnlyList<PruningGroup> groups)
    {
        Graph = graph;
        Groups = groups;
    }

    /// <summary>The analysed graph.</summary>
    public ModelGraph Graph { get; }

    /// <summary>Every group, prunable or blocked.</summary>
    public IReadOnlyList<PruningGroup> Groups { get; }

    /// <summary>The prunable groups.</summary>
    public IEnumerable<PruningGroup> Prunable => Groups.Where(g => g.Prunable);

    /// <summary>Analyses <paramref name="graph"/>.</summary>
    public static DependencyGraph Build(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        GraphValidator.Validate(graph);
        return new Builder(graph).Run();
    }

    private sealed class Builder(ModelGraph graph)
    {
        private readonly Dictionary<string, long[]> _shapes = ShapeInference.Infer(graph);
        private readonly Dictionary<string, (Segment[] Layout, long Factor)> _layout = new(StringComparer.Ordinal);
        private readonly List<long> _size = [];
        private readonly List<int> _parent = [];
        private readonly List<(int Group, ChannelSlice Slice)> _slices = [];
        private readonly Dictionary<int, string> _blocked = [];
        private readonly Dictionary<int, List<string>> _values = [];

        private int NewGroup(long channels)
        {
            _parent.Add(_parent.Count);
            _size.Add(channels);
            return _parent.Count - 1;
        }

        private int Find(int g)
        {
            while (_parent[g] != g) g = _parent[g] = _parent[_parent[g]];
            return g;
        }

        private void Union(int a, int b)
        {
            a = Find(a); b = Find(b);
            if (a == b) return;
            _parent[b] = a;
            if (_blocked.Remove(b, out var why)) _blocked.TryAdd(a, why);
        }

        private void Block(Segment[] layout, string why)
        {
            foreach (var s in layout) _blocked.TryAdd(Find(s.Group), why);
        }

        private void Slices(Segment[] layout, long factor, Node node, string tensor, int axis, SliceRole role)
        {
            long offset = 0;
            foreach (var s in layout)
            {
                _slices.Add((s.Group, new ChannelSlice(node.Name, tensor, axis, offset, factor, role)));
                offset += s.Length;
            }
        }

        private (Segment[] Layout, long Factor) Fresh(long channels, string? blockedWhy = null)
        {
            var g = NewGroup(channels);
            if (blockedWhy is not null) _blocked[g] = blockedWhy;
            return ([new Segment(g, channels)], 1);
        }

        private (Segment[] Layout, long Factor) LayoutOf(string value)
        {
            if (_layout.TryGetValue(value, out var l)) return l;
            var shape = _shapes[value];
            // Graph inputs and constants: their channels are fixed by the outside world.
            var fresh = Fresh(shape.Length > 1 ? shape[1] : 1, graph.IsInitializer(value) ? "a constant" : $"channels of graph input '{value}'");
            _layout[value] = fresh;
            return fresh;
        }

        public DependencyGraph Run()
        {
            foreach (var node in graph.Nodes) Visit(node);
            foreach (var o in graph.Outputs)
                if (_layout.TryGetValue(o.Name, out var l)) Block(l.Layout, $"feeds graph output '{o.Name}'");
            foreach (var (value, l) in _layout)
                foreach (var s in l.Layout)
                {
                    var root = Find(s.Group);
                    if (!_values.TryGetValue(root, out var list)) _values[root] = list = [];
                    if (!list.Contains(value)) list.Add(value);
                }
            var roots = Enumerable.Range(0, _parent.Count).Where(g => Find(g) == g).ToList();
            var groups = new List<PruningGroup>();
            foreach (var root in roots)
            {
                var slices = _slices.Where(s => Find(s.Group) == root).Select(s => s.Slice).Distinct().ToList();
                if (slices.Count == 0) continue; // e.g. an input nobody with weights reads
                string? why = _blocked.TryGetValue(root, out var w) ? w : null;
                if (why is null && !slices.Any(s => s.Role == SliceRole.Producer)) why = "no layer produces these channels";
                groups.Add(new PruningGroup(groups.Count, _size[root], slices, _values.GetValueOrDefault(root) ?? [], why));
            }
            return new DependencyGraph(graph, groups);
        }

        private void Visit(Node node)
        {
            string output = node.Output;
            switch (node.Op)
            {
                case OpKind.Conv:
                    {
                        var (inLayout, inFactor) = LayoutOf(node.Inputs[0]);
                        var w = node.Inputs[1];
                        var wShape = graph.Initializers[w].Shape;
                        long group = node.Int("group", 1);
                        long cin = _shapes[node.Inputs[0]][1];
                        if (group == 1)
                        {
                            if (inFactor != 1) { Block(inLayout, $"'{node.Name}' reads a flattened value"); _layout[output] = Fresh(wShape[0], $"'{node.Name}' reads a flattened value"); break; }
                            Slices(inLayout, 1, node, w, 1, SliceRole.Consumer);
                            var fresh = Fresh(wShape[0]);
                            _layout[output] = fresh;
                            Slices(fresh.Layout, 1, node, w, 0, SliceRole.Producer);
                            if (node.InputOrNull(2) is { } b) Slices(fresh.Layout, 1, node, b, 0, SliceRole.Producer);
                        }
                        else if (group == cin && wShape[0] == cin)
                        {
                            // Depthwise: filter j reads and writes channel j, so output channels are the input's.
                            _layout[output] = (inLayout, inFactor);
                            Slices(inLayout, 1, node, w, 0, SliceRole.PerChannel);
                            if (node.InputOrNull(2) is { } b) Slices(inLayout, 1, node, b, 0, SliceRole.PerChannel);
                        }
                        else
                        {
                            var why = $"grouped convolution '{node.Name}' (group {group}) ties channels across groups";
                            Block(inLayout, why);
                            _layout[output] = Fresh(wShape[0], why);
                        }
                        break;
                    }
                case OpKind.Gemm:
                    {
                        var (inLayout, factor) = LayoutOf(node.Inputs[0]);
                        var w = node.Inputs[1];
                        bool transB = node.Int("transB", 0) != 0;
                        long outFeatures = _shapes[output][1];
                        if (node.Int("transA", 0) != 0) { Block(inLayout, $"'{node.Name}' transposes its input"); _layout[output] = Fresh(outFeatures, $"'{node.Name}' transposes its input"); break; }
                        Slices(inLayout, factor, node, w, transB ? 1 : 0, SliceRole.Consumer);
                        var fresh = Fresh(outFeatures);
                        _layout[output] = fresh;
                        Slices(fresh.Layout, 1, node, w, transB ? 0 : 1, SliceRole.Producer);
                        if (node.InputOrNull(2) is { } c && TensorData.ElementCount(graph.Initializers.TryGetValue(c, out var ct) ? ct.Shape : [0]) == outFeatures)
                            Slices(fresh.Layout, 1, node, c, graph.Initializers[c].Shape.Length - 1, SliceRole.Producer);
                        else if (node.InputOrNull(2) is not null && (!graph.IsInitializer(node.Inputs[2]) || graph.Initializers[node.Inputs[2]].Count != 1))
                            _blocked[fresh.Layout[0].Group] = $"'{node.Name}' has a bias that is not per output";
                        break;
                    }
                case OpKind.BatchNormalization:
                    {
                        var l = LayoutOf(node.Inputs[0]);
                        _layout[output] = l;
                        for (int i = 1; i <= 4; i++) Slices(l.Layout, 1, node, node.Inputs[i], 0, SliceRole.PerChannel);
                        break;
                    }
                case OpKind.Relu or OpKind.Clip or OpKind.Sigmoid or OpKind.HardSigmoid or OpKind.HardSwish or OpKind.Dropout or OpKind.Identity
                    or OpKind.MaxPool or OpKind.AveragePool or OpKind.GlobalAveragePool:
                    _layout[output] = LayoutOf(node.Inputs[0]);
                    break;
                case OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Div:
                    Binary(node);
                    break;
                case OpKind.Concat:
                    {
                        var layouts = node.Inputs.Where(i => i.Length > 0).Select(LayoutOf).ToList();
                        long axis = node.Int("axis", 1);
                        if (axis < 0) axis += _shapes[output].Length;
                        if (axis == 1 && layouts.All(l => l.Factor == 1))
                            _layout[output] = (layouts.SelectMany(l => l.Layout).ToArray(), 1);
                        else
                        {
                            foreach (var l in layouts) Block(l.Layout, $"'{node.Name}' concatenates along axis {axis}");
                            _layout[output] = Fresh(_shapes[output].Length > 1 ? _shapes[output][1] : 1, $"'{node.Name}' concatenates along axis {axis}");
                        }
                        break;
                    }
                case OpKind.Flatten:
                    {
                        var (l, factor) = LayoutOf(node.Inputs[0]);
                        var shape = _shapes[node.Inputs[0]];
                        if (node.Int("axis", 1) == 1 && shape.Length >= 2)
                            _layout[output] = (l, factor * shape.Skip(2).Aggregate(1L, (a, b) => a * b));
                        else
                        {
                            Block(l, $"'{node.Name}' flattens across the batch or channel axis");
                            _layout[output] = Fresh(_shapes[output][1], $"'{node.Name}' flattens across the channel axis");
                        }
                        break;
                    }
                case OpKind.Reshape when IsFlatten(node):
                    {
                        // x.view(x.size(0), -1): a Flatten at axis 1 whose target names no channel count, so it
                        // stays right when channels go.
                        var (l, factor) = LayoutOf(node.Inputs[0]);
                        _layout[output] = (l, factor * _shapes[node.Inputs[0]].Skip(2).Aggregate(1L, (a, b) => a * b));
                        break;
                    }
                case OpKind.Transpose:
                    {
                        var perm = ShapeInference.Permutation(node, _shapes[node.Inputs[0]].Length);
                        PassUnless(node, perm.Length < 2 || perm[0] != 0 || perm[1] != 1,
                            $"'{node.Name}' (Transpose) moves the channel axis (perm [{string.Join(",", perm)}])");
                        break;
                    }
                case OpKind.Slice:
                    {
                        var ranges = ShapeInference.SliceRanges(node, _shapes[node.Inputs[0]], v => graph.Initializers.GetValueOrDefault(v));
                        PassUnless(node, ranges.Any(r => r.Axis <= 1), $"'{node.Name}' (Slice) slices the {(ranges.Any(r => r.Axis == 1) ? "channel" : "batch")} axis");
                        break;
                    }
                case OpKind.Pad:
                    {
                        int rank = _shapes[node.Inputs[0]].Length;
                        var pads = ShapeInference.PadAmounts(node, rank, v => graph.Initializers.GetValueOrDefault(v));
                        PassUnless(node, rank < 2 || pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0,
                            $"'{node.Name}' (Pad) pads the batch or channel axis");
                        break;
                    }
                default:
                    {
                        // Reshape, MatMul, Softmax and anything else: channels cannot be followed through.
                        var why = node.Op == OpKind.Reshape
                            ? $"'{node.Name}' (Reshape) regroups the channel axis"
                            : $"'{node.Name}' ({node.Op}) mixes channels in a way Secateur cannot follow";
                        foreach (var i in node.Inputs.Where(i => i.Length > 0 && !graph.IsInitializer(i))) Block(LayoutOf(i).Layout, why);
                        var shape = _shapes[output];
                        _layout[output] = Fresh(shape.Length > 1 ? shape[1] : 1, why);
                        break;
                    }
            }
        }

        /// <summary>True for a Reshape to (batch, -1) of a value with a channel axis: the exporters' form of Flatten.</summary>
        private bool IsFlatten(Node node)
        {
            var x = _shapes[node.Inputs[0]];
            var target = graph.Initializers.GetValueOrDefault(node.Inputs[1])?.Longs;
            return x.Length >= 2 && target is { Length: 2 } && target[1] == -1 && (target[0] == 0 && node.Int("allowzero", 0) == 0 || target[0] == x[0]);
        }

        /// <summary>
        /// Channels pass through a spatial-only op unchanged, unless <paramref name="touchesChannels"/> (or the value is
        /// flattened, so its axis 1 is not channels): then the groups it reads are blocked with <paramref name="why"/>.
        /// </summary>
        private void PassUnless(Node node, bool touchesChannels, string why)
        {
            var l = LayoutOf(node.Inputs[0]);
            if (!touchesChannels && l.Factor == 1)
            {
                _layout[node.Output] = l;
                return;
            }
            if (l.Factor != 1) why = $"'{node.Name}' ({node.Op}) reads a flattened value";
            Block(l.Layout, why);
            var shape = _shapes[node.Output];
            _layout[node.Output] = Fresh(shape.Length > 1 ? shape[1] : 1, why);
        }

        private void Binary(Node node)
        {
            var a = node.Inputs[0];
            var b = node.Inputs[1];
            var outShape = _shapes[node.Output];
            bool aConst = graph.IsInitializer(a), bConst = graph.IsInitializer(b);
            if (aConst && bConst) { _layout[node.Output] = Fresh(outShape.Length > 1 ? outShape[1] : 1, "a constant"); return; }
            if (aConst || bConst)
            {
                var (value, constant) = aConst ? (b, a) : (a, b);
                var l = LayoutOf(value);
                _layout[node.Output] = l;
                var cShape = graph.Initializers[constant].Shape;
                var vShape = _shapes[value];
                if (TensorData.ElementCount(cShape) == 1) return; // a scalar does not care about channels
                // A per-channel constant (C,1,1) or (1,C,1,1) must lose the same channels.
                int axis = cShape.Length - (vShape.Length - 1);
                if (axis >= 0 && cShape[axis] == vShape[1] && cShape.Where((d, i) => i != axis).All(d => d == 1) && l.Factor == 1)
                    Slices(l.Layout, 1, node, constant, axis, SliceRole.PerChannel);
                else Block(l.Layout, $"'{node.Name}' combines the channels with a constant of shape {TensorData.FormatShape(cShape)}");
                return;
            }
            var la = LayoutOf(a);
            var lb = LayoutOf(b);
            var sa = _shapes[a];
            var sb = _shapes[b];
            if (sa.Length > 1 && sb.Length > 1 && sa[1] == sb[1] && la.Factor == lb.Factor && Aligned(la.Layout, lb.Layout))
            {
                // Residual connections and gates: channel j of both operands is channel j of the result.
                for (int i = 0; i < la.Layout.Length; i++) Union(la.Layout[i].Group, lb.Layout[i].Group);
                _layout[node.Output] = la;
                return;
            }
            var why = $"'{node.Name}' ({node.Op}) combines operands whose channels do not line up";
            Block(la.Layout, why);
            Block(lb.Layout, why);
            _layout[node.Output] = Fresh(outShape.Length > 1 ? outShape[1] : 1, why);
        }

        private static bool Aligned(Segment[] a, Segment[] b) =>
            a.Length == b.Length && a.Zip(b).All(p => p.First.Length == p.Second.Length);
    }
}
