using Secateur.Graph;
using Secateur.Graph.Ops;

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
/// <c>[(Offset + j)·Factor, (Offset + j + 1)·Factor)</c> along <c>Axis</c> of <c>Tensor</c> — or, when
/// <c>Modulo</c> is positive, index <c>(Offset + j) mod Modulo</c>: the input axis of a grouped convolution's
/// filters (Cout, Cin/groups, …), where channel <c>j</c> is column <c>j mod (Cin/groups)</c> of its group's filters.
/// When <c>Divisor</c> is above 1, <c>Divisor</c> consecutive channels of the group share one index,
/// <c>⌊(Offset + j) / Divisor⌋</c>: a tensor read after a DepthToSpace in CRD mode, whose every channel is made of
/// <c>Divisor</c> channels of the group (which then goes in runs of that many, see <see cref="PruningGroup.Chunk"/>).
/// </summary>
/// <param name="Node">The node the tensor belongs to.</param>
/// <param name="Tensor">Initializer name.</param>
/// <param name="Axis">Axis of the initializer to slice.</param>
/// <param name="Offset">Where the group starts along the axis, in channels (non-zero after a Concat).</param>
/// <param name="Factor">Elements per channel along the axis (H·W for a Linear after Flatten, else 1).</param>
/// <param name="Role">What kind of dependency this is.</param>
/// <param name="Modulo">Channels per convolution group for a grouped convolution's input axis, else 0.</param>
/// <param name="Divisor">Channels of the group that share one index along the axis (after a DepthToSpace), else 1.</param>
public sealed record ChannelSlice(string Node, string Tensor, int Axis, long Offset, long Factor, SliceRole Role, long Modulo = 0, long Divisor = 1)
{
    /// <summary>The first index along <see cref="Axis"/> that channel <paramref name="j"/> of the group removes (then <see cref="Factor"/> in a row).</summary>
    public long Start(long j) => (Modulo > 0 ? (Offset + j) % Modulo : Offset + j) / Divisor * Factor;

    /// <summary>True when every channel of the group has indices of its own here (no grouped-convolution column, no DepthToSpace share).</summary>
    public bool OneToOne => Modulo == 0 && Divisor == 1;
}

/// <summary>
/// The unit of structured pruning: a set of channels that must be removed together — a producer's output
/// channels with every batch norm, depthwise filter and consumer input that follows them, across residual
/// additions and concatenations. Channel <c>j</c> of a group is one channel in every one of its slices.
/// </summary>
public sealed class PruningGroup
{
    internal PruningGroup(int id, long channels, long period, IReadOnlyList<ChannelSlice> slices, IReadOnlyList<string> values, string? blockedReason,
        string? part = null, long chunk = 1)
    {
        _part = part;
        Id = id;
        Channels = channels;
        Period = period;
        Chunk = chunk;
        Slices = slices;
        Values = values;
        BlockedReason = blockedReason;
    }

    /// <summary>Index in <see cref="DependencyGraph.Groups"/>.</summary>
    public int Id { get; }

    /// <summary>Number of channels.</summary>
    public long Channels { get; }

    /// <summary>
    /// The channels are <see cref="Blocks"/> blocks of <see cref="Period"/>, and a removal must take the same positions in
    /// every block: grouped convolutions read or write the group (filter <c>i</c> of conv group <c>b</c> reads only the
    /// inputs of group <c>b</c>, so every conv group must keep as many channels, and its filters' input axis is shared by
    /// all groups, so they must keep the same positions). Equals <see cref="Channels"/> when nothing constrains it.
    /// </summary>
    public long Period { get; }

    /// <summary>How many blocks of <see cref="Period"/> channels a removal must treat alike (1 when unconstrained).</summary>
    public long Blocks => Channels / Period;

    /// <summary>Positions within a block, repeated in every block: the admissible removal that takes those positions.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A position is not below <see cref="Period"/>.</exception>
    public IReadOnlyCollection<long> InEveryBlock(IEnumerable<long> positions)
    {
        ArgumentNullException.ThrowIfNull(positions);
        var p = positions.Distinct().Order().ToArray();
        if (p.Any(x => x < 0 || x >= Period)) throw new ArgumentOutOfRangeException(nameof(positions), $"a position is outside the block of {Period} channels");
        return Enumerable.Range(0, (int)Blocks).SelectMany(b => p.Select(x => b * Period + x)).ToArray();
    }

    /// <summary>
    /// When above 1, the channels are runs of <see cref="Chunk"/> consecutive channels that go together: a group
    /// normalization's groups (removing part of one would change the statistics of the rest; removing whole ones leaves
    /// the others' as they were), or the r² channels a DepthToSpace in CRD mode makes one output channel of. 1 when
    /// nothing constrains it.
    /// </summary>
    public long Chunk { get; }

    /// <summary>Channels that one removal unit takes: a whole norm group (<see cref="Chunk"/>), a position in every block (<see cref="Blocks"/>), or 1.</summary>
    public long UnitSize => Chunk > 1 ? Chunk : Blocks;

    /// <summary>Number of removal units (see <see cref="UnitSize"/>).</summary>
    public long Units => Channels / UnitSize;

    /// <summary>The admissible removal made of removal units <paramref name="units"/> (each below <see cref="Units"/>).</summary>
    public IReadOnlyCollection<long> FromUnits(IEnumerable<long> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        if (Chunk <= 1) return InEveryBlock(units);
        var u = units.Distinct().Order().ToArray();
        if (u.Any(x => x < 0 || x >= Units)) throw new ArgumentOutOfRangeException(nameof(units), $"a unit is outside the {Units} norm groups");
        return u.SelectMany(x => Enumerable.Range(0, (int)Chunk).Select(k => x * Chunk + k)).ToArray();
    }

    /// <summary>The score of each removal unit: the sum of its channels' scores.</summary>
    public float[] UnitScores(float[] scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        var sums = new float[Units];
        for (long j = 0; j < Channels; j++) sums[Chunk > 1 ? j / Chunk : j % Period] += scores[j];
        return sums;
    }

    /// <summary>True when <paramref name="channels"/> takes the same positions in every block (see <see cref="Period"/>) and whole runs of <see cref="Chunk"/>.</summary>
    public bool IsAdmissible(IReadOnlyCollection<long> channels)
    {
        ArgumentNullException.ThrowIfNull(channels);
        var set = channels.ToHashSet();
        if (Chunk > 1 && !set.All(j => Enumerable.Range(0, (int)Chunk).All(k => set.Contains(j - j % Chunk + k)))) return false;
        if (Period == Channels) return true;
        return set.All(j => set.Contains((j + Period) % Channels));
    }

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

    private readonly string? _part;

    /// <summary>
    /// A short name: the first producer, or the first value; with the range of the producer's channels when the group is
    /// only part of them (a chunk a Slice takes), as in <c>/m/cv1/Conv[16:32]</c>.
    /// </summary>
    public string Name => (Producers.FirstOrDefault() ?? Values.FirstOrDefault() ?? $"group{Id}") + _part;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Channels} channels, {Slices.Count} slices{(Prunable ? "" : ", blocked: " + BlockedReason)})";
}

/// <summary>
/// Channel dependencies of a <see cref="ModelGraph"/>, computed exactly from the graph (no tracing): every
/// value's channel axis is described as a sequence of segments of groups; elementwise ops and batch norm keep
/// the layout, residual Add/Sub/Mul unify the groups of their operands, Concat joins layouts, a Slice of the channels
/// (a <c>chunk</c>) cuts the groups it reads at its ends so that each chunk is groups of its own, depthwise
/// convolutions tie output to input channels, grouped convolutions cut the groups they read and write in equal blocks
/// (<see cref="PruningGroup.Period"/>), Flatten multiplies a channel into H·W features, and a Transpose moves the
/// channels to another axis (ConvNeXt's channels-last blocks), where a MatMul by a constant weight reads and writes
/// them. Which of these an op does is its definition's <see cref="ChannelRule"/> (<see cref="OpDefinition.Channels"/>);
/// this class keeps the union-find over channel segments that applies the rules. Ops whose effect on channels cannot
/// be traced block the groups they touch instead of corrupting them.
/// </summary>
public sealed class DependencyGraph
{
    private readonly record struct Segment(int Group, long Length);

    /// <summary>
    /// Where a value's channels are: on <c>Axis</c>, in segments of groups, each channel <c>Factor</c> indices wide; when
    /// <c>Divisor</c> is above 1, each index is made of <c>Divisor</c> consecutive channels of the segments (after a
    /// DepthToSpace in CRD mode; segment lengths count the groups' channels).
    /// </summary>
    internal sealed record ValueChannels(int Axis, long Factor, IReadOnlyList<(PruningGroup? Group, long Length)> Segments, long Divisor = 1);

    private DependencyGraph(ModelGraph graph, IReadOnlyList<PruningGroup> groups, IReadOnlyDictionary<string, ValueChannels> values,
        IReadOnlyDictionary<string, long[]> shapes)
    {
        Graph = graph;
        Groups = groups;
        Values = values;
        Shapes = shapes;
    }

    /// <summary>The analysed graph.</summary>
    public ModelGraph Graph { get; }

    /// <summary>Every group, prunable or blocked.</summary>
    public IReadOnlyList<PruningGroup> Groups { get; }

    /// <summary>The prunable groups.</summary>
    public IEnumerable<PruningGroup> Prunable => Groups.Where(g => g.Prunable);

    /// <summary>Every value's channels (null groups: channels no layer reads or writes).</summary>
    internal IReadOnlyDictionary<string, ValueChannels> Values { get; }

    /// <summary>The shape of every value of <see cref="Graph"/>.</summary>
    internal IReadOnlyDictionary<string, long[]> Shapes { get; }

    /// <summary>Analyses <paramref name="graph"/>.</summary>
    public static DependencyGraph Build(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        GraphValidator.Validate(graph);
        return new Builder(graph).Run();
    }

    private sealed class Builder(ModelGraph graph)
    {
        /// <summary>A value's channels while the graph is visited: segments of groups on an axis (see <see cref="ValueChannels"/>).</summary>
        /// <remarks>
        /// <c>NonZero</c>, when set, says why the value's removed channels are not 0 in the model with them zeroed (an op
        /// that maps 0 elsewhere, see <see cref="OpDefinition.MapsZeroTo"/>): a layer reading it blocks its groups.
        /// </remarks>
        private readonly record struct Layout(Segment[] Segments, long Factor, int Axis = 1, long Divisor = 1, string? NonZero = null);

        private readonly Dictionary<string, long[]> _shapes = ShapeInference.Infer(graph);
        private readonly Dictionary<string, Layout> _layout = new(StringComparer.Ordinal);
        private readonly List<long> _size = [];
        private readonly List<int> _parent = [];
        private readonly List<(int Group, ChannelSlice Slice)> _slices = [];
        private readonly Dictionary<int, string> _blocked = [];
        // Block size each grouped convolution imposes on the group it reads or writes (see PruningGroup.Period).
        private readonly Dictionary<int, long> _period = [];
        // A group cut in two by a Slice of the channels: channels [0, At) are group First, the rest group Second.
        private readonly Dictionary<int, (int First, long At, int Second)> _children = [];

        // Runs of channels a group normalization keeps together (see PruningGroup.Chunk).
        private readonly Dictionary<int, long> _chunk = [];

        private void Constrain(int group, long period) =>
            _period[group] = _period.TryGetValue(group, out var p) ? Gcd(p, period) : period;

        private void Chunk(int group, long chunk) =>
            _chunk[group] = _chunk.TryGetValue(group, out var c) ? c / Gcd(c, chunk) * chunk : chunk;

        private static long Gcd(long a, long b)
        {
            while (b != 0) (a, b) = (b, a % b);
            return a;
        }

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

        /// <summary>Segments whose groups have been cut, replaced by their parts (a layout only ever names uncut groups).</summary>
        private IEnumerable<Segment> Expand(Segment s) =>
            _children.TryGetValue(s.Group, out var c)
                ? Expand(new Segment(c.First, c.At)).Concat(Expand(new Segment(c.Second, s.Length - c.At)))
                : [s];

        private Layout Expand(Layout l) =>
            l.Segments.Any(s => _children.ContainsKey(s.Group)) ? l with { Segments = l.Segments.SelectMany(Expand).ToArray() } : l;

        /// <summary>
        /// Cuts group <paramref name="g"/> after its first <paramref name="at"/> channels — and with it every group tied
        /// to it, at the same place, so that the ties hold part by part: channel j of a part is channel j of the
        /// same part of every tied group.
        /// </summary>
        private void Cut(int g, long at)
        {
            int root = Find(g);
            var members = Enumerable.Range(0, _parent.Count).Where(m => !_children.ContainsKey(m) && Find(m) == root).ToList();
            // Equal blocks a grouped convolution imposes span both parts, a tie between them that groups cannot say.
            bool grouped = members.Any(m => _period.TryGetValue(m, out var p) && p < _size[m]);
            // Runs that must go together (norm groups, DepthToSpace's r² channels) survive a cut only between runs.
            long chunk = members.Select(m => _chunk.GetValueOrDefault(m, 1)).Aggregate(1L, (a, c) => a / Gcd(a, c) * c);
            string? why = _blocked.GetValueOrDefault(root)
                ?? (grouped ? $"a slice of the channels cuts a group that grouped convolutions cut in equal blocks" : null)
                ?? (at % chunk != 0 ? $"a slice of the channels cuts a run of {chunk} channels that must go together" : null);
            int first = -1, second = -1;
            foreach (var m in members)
            {
                int a = NewGroup(at), b = NewGroup(_size[m] - at);
                _children[m] = (a, at, b);
                if (first < 0) (first, second) = (a, b);
                else
                {
                    Union(first, a);
                    Union(second, b);
                }
            }
            if (chunk > 1)
            {
                Chunk(first, chunk);
                Chunk(second, chunk);
            }
            if (why is null) return;
            _blocked[Find(first)] = why;
            _blocked[Find(second)] = why;
        }

        /// <summary><paramref name="l"/> with a segment boundary at channel <paramref name="position"/> (cutting the group there if needed).</summary>
        private Layout CutAt(Layout l, long position)
        {
            l = Expand(l);
            long offset = 0;
            foreach (var s in l.Segments)
            {
                if (position > offset && position < offset + s.Length)
                {
                    Cut(s.Group, position - offset);
                    return Expand(l);
                }
                offset += s.Length;
            }
            return l;
        }

        private static IEnumerable<long> Boundaries(Layout l)
        {
            long offset = 0;
            foreach (var s in l.Segments) yield return offset += s.Length;
        }

        private void Slices(Segment[] layout, long factor, Node node, string tensor, int axis, SliceRole role, long modulo = 0, long divisor = 1)
        {
            long offset = 0;
            foreach (var s in layout)
            {
                _slices.Add((s.Group, new ChannelSlice(node.Name, tensor, axis, offset, factor, role, modulo, divisor)));
                offset += s.Length;
            }
        }

        /// <summary>A slice of a group that was cut, as slices of its parts.</summary>
        private IEnumerable<(int Group, ChannelSlice Slice)> Expand(int g, ChannelSlice s) =>
            _children.TryGetValue(g, out var c)
                ? Expand(c.First, s).Concat(Expand(c.Second, s with { Offset = s.Offset + c.At }))
                : [(g, s)];

        private Layout Fresh(long channels, string? blockedWhy = null, int axis = 1)
        {
            var g = NewGroup(channels);
            if (blockedWhy is not null) _blocked[g] = blockedWhy;
            return new([new Segment(g, channels)], 1, axis);
        }

        /// <summary>Fresh channels for the output of <paramref name="node"/> on <paramref name="axis"/>, blocked with <paramref name="why"/>.</summary>
        private Layout FreshOutput(Node node, string why, int axis = 1)
        {
            var shape = _shapes[node.Output];
            if (axis >= shape.Length) axis = 1;
            return Fresh(shape.Length > axis ? shape[axis] : 1, why, axis);
        }

        private Layout LayoutOf(string value)
        {
            if (_layout.TryGetValue(value, out var l)) return _layout[value] = Expand(l);
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
                if (_layout.ContainsKey(o.Name)) Block(LayoutOf(o.Name).Segments, $"feeds graph output '{o.Name}'");
            var values = new Dictionary<int, List<string>>();
            foreach (var value in _layout.Keys.ToList())
                foreach (var s in LayoutOf(value).Segments)
                {
                    var root = Find(s.Group);
                    if (!values.TryGetValue(root, out var list)) values[root] = list = [];
                    if (!list.Contains(value)) list.Add(value);
                }
            var slicesByRoot = _slices.SelectMany(s => Expand(s.Group, s.Slice)).GroupBy(s => Find(s.Group))
                .ToDictionary(g => g.Key, g => g.Select(s => s.Slice).Distinct().ToList());
            var periods = _period.Where(p => !_children.ContainsKey(p.Key)).GroupBy(p => Find(p.Key))
                .ToDictionary(g => g.Key, g => g.Select(p => p.Value).Aggregate(Gcd));
            var groups = new List<PruningGroup>();
            var byRoot = new Dictionary<int, PruningGroup>();
            foreach (var root in Enumerable.Range(0, _parent.Count).Where(g => Find(g) == g && !_children.ContainsKey(g)))
            {
                if (!slicesByRoot.TryGetValue(root, out var slices)) continue; // e.g. an input nobody with weights reads
                string? why = _blocked.TryGetValue(root, out var w) ? w : null;
                if (why is null && !slices.Any(s => s.Role == SliceRole.Producer)) why = "no layer produces these channels";
                // Residuals tie groups together, so a block constraint on any member holds for the whole.
                long period = periods.TryGetValue(root, out var p) ? Gcd(_size[root], p) : _size[root];
                if (why is null && period == 1 && _size[root] > 1)
                    why = "every channel is a convolution group of its own (a channel multiplier): only all of them could go";
                // Group normalizations tie runs of channels; their least common multiple is what every one of them keeps whole.
                long chunk = 1;
                foreach (var (g, c) in _chunk)
                    if (Find(g) == root) chunk = chunk / Gcd(chunk, c) * c;
                if (why is null && chunk > 1 && period < _size[root])
                    why = "its channels go in runs (a group normalization's groups, or a DepthToSpace's) and feed grouped convolutions (the same positions in every block)";
                if (why is null && chunk > 1 && (chunk >= _size[root] || _size[root] % chunk != 0))
                    why = $"its {_size[root]} channels must go in runs of {chunk} (a group normalization's groups, or the channels a DepthToSpace makes one of): only all of them could go";
                var group = new PruningGroup(groups.Count, _size[root], period, slices, values.GetValueOrDefault(root) ?? [], why, Part(slices, _size[root]), chunk);
                groups.Add(group);
                byRoot[root] = group;
            }
            var channels = _layout.ToDictionary(kv => kv.Key, kv => new ValueChannels(kv.Value.Axis, kv.Value.Factor,
                kv.Value.Segments.Select(s => (byRoot.GetValueOrDefault(Find(s.Group)), s.Length)).ToList(), kv.Value.Divisor), StringComparer.Ordinal);
            return new DependencyGraph(graph, groups, channels, _shapes);
        }

        /// <summary>The channel range of the first producer's tensor a group covers, when it is not the whole (a chunk): "[16:32]".</summary>
        private string? Part(List<ChannelSlice> slices, long channels)
        {
            var s = slices.FirstOrDefault(x => x.Role == SliceRole.Producer);
            if (s is null || !graph.Initializers.TryGetValue(s.Tensor, out var t)) return null;
            return s.Offset == 0 && channels * s.Factor == t.Shape[s.Axis] ? null : $"[{s.Offset}:{s.Offset + channels}]";
        }

        // The op's definition says how channels flow; this applies it to the groups, then marks an output whose removed
        // channels are no longer 0.
        private void Visit(Node node)
        {
            var op = OpRegistry.For(node);
            Apply(node, op.Channels(node, graph, _shapes));
            if (op.MapsZeroTo(node, graph) is { } z && _layout.TryGetValue(node.Output, out var o) && o.NonZero is null)
                _layout[node.Output] = o with { NonZero = $"'{node.Name}' ({node.Op}) maps 0 to {z}" };
        }

        private void Apply(Node node, ChannelRule channelRule)
        {
            switch (channelRule)
            {
                case ChannelRule.PassThrough rule:
                    {
                        var l = LayoutOf(node.Inputs[0]);
                        if (l.Axis != 1 && !rule.AnyAxis)
                        {
                            BlockInto(node, l, $"'{node.Name}' ({node.Op}) expects channels on axis 1, but a Transpose moved them to axis {l.Axis}");
                            break;
                        }
                        _layout[node.Output] = l;
                        foreach (var t in rule.PerChannel) Slices(l.Segments, l.Factor, node, t.Tensor, t.Axis, SliceRole.PerChannel, divisor: l.Divisor);
                        if (rule.Chunk > 1)
                        {
                            if (l.Segments.Length == 1 && l.Factor == 1 && l.Divisor == 1) Chunk(l.Segments[0].Group, rule.Chunk);
                            else Block(l.Segments, $"'{node.Name}' ({node.Op}) normalises runs of {rule.Chunk} channels joined from several layers");
                        }
                        break;
                    }
                case ChannelRule.SpatialOnly rule:
                    PassUnless(node, rule.TouchesChannels);
                    break;
                case ChannelRule.Combine:
                    Combine(node);
                    break;
                case ChannelRule.Concatenate rule:
                    Concat(node, rule.Axis);
                    break;
                case ChannelRule.Flatten rule:
                    {
                        var l = LayoutOf(node.Inputs[0]);
                        if (l.Axis != 1) BlockInto(node, l, $"'{node.Name}' ({node.Op}) flattens channels that a Transpose moved to axis {l.Axis}");
                        else _layout[node.Output] = l with { Factor = l.Factor * rule.Factor };
                        break;
                    }
                case ChannelRule.Layer rule:
                    Layer(node, rule);
                    break;
                case ChannelRule.Permute rule:
                    {
                        var l = LayoutOf(node.Inputs[0]);
                        if (l.Factor != 1) BlockInto(node, l, $"'{node.Name}' ({node.Op}) transposes a flattened value");
                        else _layout[node.Output] = l with { Axis = rule.Perm.ToList().IndexOf(l.Axis) };
                        break;
                    }
                case ChannelRule.Take rule:
                    Take(node, rule);
                    break;
                case ChannelRule.Normalise rule:
                    {
                        var l = LayoutOf(node.Inputs[0]);
                        if (l.Factor != 1 || l.Axis >= rule.FirstAxis) BlockInto(node, l, rule.AcrossChannels);
                        else if (rule.OtherAxes is not null) BlockInto(node, l, rule.OtherAxes);
                        else _layout[node.Output] = l;
                        break;
                    }
                case ChannelRule.DepthToSpace rule:
                    DepthToSpace(node, rule);
                    break;
                case ChannelRule.SpaceToDepth rule:
                    {
                        // Output channel k·C + c is input channel c: the input's layout, laid end to end r² times.
                        var l = LayoutOf(node.Inputs[0]);
                        if (l.Factor != 1 || l.Axis != 1) BlockInto(node, l, $"'{node.Name}' (SpaceToDepth) reads a flattened or transposed value");
                        else _layout[node.Output] = l with { Segments = Enumerable.Repeat(l.Segments, (int)rule.Squares).SelectMany(x => x).ToArray() };
                        break;
                    }
                case ChannelRule.Block rule:
                    {
                        foreach (var i in node.Inputs.Where(i => i.Length > 0 && !graph.IsInitializer(i))) Block(LayoutOf(i).Segments, rule.Why);
                        _layout[node.Output] = FreshOutput(node, rule.OutputWhy ?? rule.Why);
                        break;
                    }
                default:
                    throw new System.Diagnostics.UnreachableException($"channel rule {node.Op} is not applied");
            }
        }

        /// <summary>
        /// Blocks the groups of <paramref name="l"/> and gives the output fresh channels, both with <paramref name="why"/>; on
        /// the input's channel axis when the output has the input's rank (a LayerNormalization channels last stays so).
        /// </summary>
        private void BlockInto(Node node, Layout l, string why)
        {
            Block(l.Segments, why);
            bool sameRank = _shapes[node.Output].Length == _shapes[node.Inputs[0]].Length;
            _layout[node.Output] = FreshOutput(node, why, sameRank && l.Factor == 1 ? l.Axis : 1);
        }

        /// <summary>A weighted layer consumes its input's channels and produces fresh ones.</summary>
        private void Layer(Node node, ChannelRule.Layer rule)
        {
            var l = LayoutOf(node.Inputs[0]);
            var (inLayout, inFactor) = (l.Segments, l.Factor);
            string? why = inFactor != 1 && !rule.ReadsFlattened ? $"'{node.Name}' reads a flattened value"
                : l.Axis != rule.Axis ? $"'{node.Name}' ({node.Op}) reads axis {rule.Axis}, but the channels are on axis {l.Axis}"
                : l.Divisor != 1 && rule.Groups > 1 ? $"grouped convolution '{node.Name}' (group {rule.Groups}) reads the output of a DepthToSpace"
                : null;
            if (why is not null)
            {
                Block(inLayout, why);
                _layout[node.Output] = Fresh(rule.OutChannels, why, rule.Axis);
                return;
            }
            var fresh = Fresh(rule.OutChannels, axis: rule.Axis);
            // A removed channel that is not 0 here still feeds the layer (its constant times the weights), unlike a removed one.
            if (l.NonZero is not null) Block(inLayout, $"{l.NonZero}, so a removed channel would change what '{node.Name}' reads");
            if (rule.Groups > 1)
            {
                // A grouped convolution: its input must be one group (a Concat's parts would have to be cut in step with
                // each other, which groups cannot say), cut in equal blocks; its output is cut in blocks of Cout/groups.
                if (inLayout.Length == 1 && inFactor == 1)
                {
                    long perGroup = inLayout[0].Length / rule.Groups;
                    Slices(inLayout, 1, node, rule.Consumer.Tensor, rule.Consumer.Axis, SliceRole.Consumer, perGroup);
                    Constrain(inLayout[0].Group, perGroup);
                }
                else Block(inLayout, $"grouped convolution '{node.Name}' (group {rule.Groups}) reads channels joined from several layers");
                Constrain(fresh.Segments[0].Group, rule.OutChannels / rule.Groups);
            }
            else Slices(inLayout, inFactor, node, rule.Consumer.Tensor, rule.Consumer.Axis, SliceRole.Consumer, divisor: l.Divisor);
            _layout[node.Output] = fresh;
            foreach (var p in rule.Producers) Slices(fresh.Segments, 1, node, p.Tensor, p.Axis, SliceRole.Producer);
            if (rule.OutputBlocked is not null) _blocked[fresh.Segments[0].Group] = rule.OutputBlocked;
        }

        /// <summary>Along the channel axis the output's layout is the inputs' laid end to end; along any other, channels are lost.</summary>
        private void Concat(Node node, long axis)
        {
            var layouts = node.Inputs.Where(i => i.Length > 0).Select(LayoutOf).ToList();
            int channelAxis = layouts[0].Axis;
            if (axis == channelAxis && layouts.All(l => l.Factor == 1 && l.Axis == channelAxis && l.Divisor == layouts[0].Divisor))
            {
                _layout[node.Output] = new(layouts.SelectMany(l => l.Segments).ToArray(), 1, channelAxis, layouts[0].Divisor,
                    layouts.Select(l => l.NonZero).FirstOrDefault(z => z is not null));
                return;
            }
            var why = axis == channelAxis && layouts.All(l => l.Factor == 1 && l.Axis == channelAxis)
                ? $"'{node.Name}' concatenates the output of a DepthToSpace with channels made otherwise"
                : $"'{node.Name}' concatenates along axis {axis}";
            foreach (var l in layouts) Block(l.Segments, why);
            _layout[node.Output] = FreshOutput(node, why);
        }

        /// <summary>
        /// A Slice: a step-1 range of the channel axis cuts the groups at its ends and takes the segments between them;
        /// ranges of other axes leave the channels alone.
        /// </summary>
        private void Take(Node node, ChannelRule.Take rule)
        {
            var l = LayoutOf(node.Inputs[0]);
            var dim = _shapes[node.Inputs[0]];
            var r = rule.Ranges.Where(x => x.Axis == l.Axis).Select(x => (ChannelRule.TakenRange?)x).FirstOrDefault();
            if (r is not { } range || (range.Start == 0 && range.Step == 1 && range.Count == dim[l.Axis]))
            {
                _layout[node.Output] = l;
                return;
            }
            string? why = l.Factor != 1 ? $"'{node.Name}' (Slice) slices a flattened value"
                : l.Divisor != 1 ? $"'{node.Name}' (Slice) slices the output of a DepthToSpace"
                : range.Step != 1 ? $"'{node.Name}' (Slice) takes every {range.Step}th channel"
                : range.Count == 0 ? $"'{node.Name}' (Slice) takes no channel"
                : null;
            if (why is not null)
            {
                BlockInto(node, l, why);
                return;
            }
            l = CutAt(CutAt(l, range.Start), range.Start + range.Count);
            var taken = new List<Segment>();
            long offset = 0;
            foreach (var s in l.Segments)
            {
                if (offset >= range.Start && offset + s.Length <= range.Start + range.Count) taken.Add(s);
                offset += s.Length;
            }
            _layout[node.Output] = l with { Segments = [.. taken] };
        }

        /// <summary>
        /// Channels pass through a spatial-only op unchanged, unless <paramref name="touchesChannels"/> says why not (or the
        /// value is flattened, or its channels are not on axis 1): then the groups it reads are blocked.
        /// </summary>
        private void PassUnless(Node node, string? touchesChannels)
        {
            var l = LayoutOf(node.Inputs[0]);
            string? why = l.Factor != 1 ? $"'{node.Name}' ({node.Op}) reads a flattened value"
                : l.Axis != 1 ? $"'{node.Name}' ({node.Op}) expects channels on axis 1, but a Transpose moved them to axis {l.Axis}"
                : touchesChannels;
            if (why is null) _layout[node.Output] = l;
            else BlockInto(node, l, why);
        }

        /// <summary>
        /// Broadcasting arithmetic on any number of operands (Add, Mul, ... and the variadic Sum, Max, Min): a left fold
        /// of the two-operand rule, through stand-in values that exist only while the node is visited.
        /// </summary>
        private void Combine(Node node)
        {
            var operands = node.Inputs.Where(i => i.Length > 0).ToList();
            var acc = operands[0];
            var standIns = new List<string>();
            for (int k = 1; k < operands.Count; k++)
            {
                var output = node.Output;
                if (k < operands.Count - 1)
                {
                    // '\0' cannot occur in an ONNX value name, so a stand-in never meets a real value.
                    output = $"{node.Output}\0{k}";
                    _shapes[output] = ShapeInference.Broadcast(node, _shapes[acc], _shapes[operands[k]]);
                    standIns.Add(output);
                }
                Binary(node, acc, operands[k], output);
                acc = output;
            }
            foreach (var s in standIns)
            {
                _layout.Remove(s);
                _shapes.Remove(s);
            }
        }

        private void Binary(Node node, string a, string b, string output)
        {
            var outShape = _shapes[output];
            bool aConst = graph.IsInitializer(a), bConst = graph.IsInitializer(b);
            if (aConst && bConst) { _layout[output] = Fresh(outShape.Length > 1 ? outShape[1] : 1, "a constant"); return; }
            if (aConst || bConst)
            {
                var (value, constant) = aConst ? (b, a) : (a, b);
                var l = LayoutOf(value);
                var cShape = graph.Initializers[constant].Shape;
                var vShape = _shapes[value];
                // Broadcasting aligns axes from the right, so the channel axis keeps its distance from the last one.
                _layout[output] = l with { Axis = outShape.Length - (vShape.Length - l.Axis) };
                if (TensorData.ElementCount(cShape) == 1) return; // a scalar does not care about channels
                // A per-channel constant — (C,1,1) or (1,C,1,1) channels first, (C) channels last — must lose the same channels.
                int axis = cShape.Length - (vShape.Length - l.Axis);
                if (axis >= 0 && cShape[axis] == vShape[l.Axis] && cShape.Where((d, i) => i != axis).All(d => d == 1) && l.Factor == 1)
                {
                    Slices(l.Segments, 1, node, constant, axis, SliceRole.PerChannel, divisor: l.Divisor);
                    // A per-channel scale is zeroed with the channel, so the product is 0 again.
                    if (node.Op == OpKind.Mul) _layout[output] = _layout[output] with { NonZero = null };
                }
                else Block(l.Segments, $"'{node.Name}' combines the channels with a constant of shape {TensorData.FormatShape(cShape)}");
                return;
            }
            var la = LayoutOf(a);
            var lb = LayoutOf(b);
            var sa = _shapes[a];
            var sb = _shapes[b];
            if (sa.Length - la.Axis == sb.Length - lb.Axis && la.Axis < sa.Length && lb.Axis < sb.Length && sa[la.Axis] == sb[lb.Axis]
                && la.Factor == lb.Factor && la.Divisor == lb.Divisor && Tie(ref la, ref lb))
            {
                // Residual connections and gates: channel j of both operands is channel j of the result. A product is 0 where
                // either operand is (the gate x·σ(x) zeroes what σ made 0.5); a sum, difference or extremum is not.
                var nonZero = node.Op == OpKind.Mul ? (la.NonZero is null || lb.NonZero is null ? null : la.NonZero) : la.NonZero ?? lb.NonZero;
                _layout[output] = la with { Axis = outShape.Length - (sa.Length - la.Axis), NonZero = nonZero };
                return;
            }
            var why = $"'{node.Name}' ({node.Op}) combines operands whose channels do not line up";
            Block(la.Segments, why);
            Block(lb.Segments, why);
            // The result's channels, blocked, stay on the axis that carried the first operand's (a mean subtracted channels last).
            int outAxis = outShape.Length - (sa.Length - la.Axis);
            _layout[output] = outAxis >= 0 && outAxis < outShape.Length && la.Factor == 1
                ? Fresh(outShape[outAxis], why, outAxis)
                : Fresh(outShape.Length > 1 ? outShape[1] : 1, why);
        }

        /// <summary>
        /// Ties channel j of <paramref name="la"/> to channel j of <paramref name="lb"/>: their groups are cut at each other's
        /// boundaries (a chunk added to a whole) and then tied part by part. False when they cannot be made to line up.
        /// </summary>
        private bool Tie(ref Layout la, ref Layout lb)
        {
            long channels = la.Segments.Sum(s => s.Length);
            for (int round = 0; !Aligned(la.Segments, lb.Segments) && round <= channels; round++)
            {
                foreach (var p in Boundaries(Expand(lb)).ToList()) la = CutAt(la, p);
                foreach (var p in Boundaries(Expand(la)).ToList()) lb = CutAt(lb, p);
                (la, lb) = (Expand(la), Expand(lb));
            }
            if (!Aligned(la.Segments, lb.Segments)) return false;
            for (int i = 0; i < la.Segments.Length; i++) Union(la.Segments[i].Group, lb.Segments[i].Group);
            return true;
        }

        /// <summary>
        /// DepthToSpace with block size r: each output channel is made of r² input channels. In CRD mode they are consecutive
        /// (output c' reads inputs [c'·r², (c'+1)·r²)): the input's groups go in runs of r² (see <see cref="PruningGroup.Chunk"/>)
        /// and the output keeps the input's layout, each of its channels one run (<see cref="Layout.Divisor"/>). In DCR mode they
        /// are strided (output c' reads inputs k·C' + c'): the input is tied, block by block of C', to the output's fresh channels,
        /// as r² residual operands would be, so channel c' of the output's group is input channel c' of every block.
        /// </summary>
        private void DepthToSpace(Node node, ChannelRule.DepthToSpace rule)
        {
            var l = LayoutOf(node.Inputs[0]);
            if (l.Factor != 1 || l.Axis != 1)
            {
                BlockInto(node, l, $"'{node.Name}' (DepthToSpace) reads a flattened or transposed value");
                return;
            }
            if (rule.Contiguous)
            {
                long run = l.Divisor * rule.Squares;
                long offset = 0;
                foreach (var s in l.Segments)
                {
                    if (offset % run != 0 || s.Length % run != 0)
                    {
                        BlockInto(node, l, $"'{node.Name}' (DepthToSpace) makes an output channel of {rule.Squares} input channels from different layers");
                        return;
                    }
                    offset += s.Length;
                }
                foreach (var s in l.Segments) Chunk(s.Group, run);
                _layout[node.Output] = l with { Divisor = run };
                return;
            }
            var output = Fresh(_shapes[node.Output][1]);
            var blocks = output with { Segments = Enumerable.Repeat(output.Segments, (int)rule.Squares).SelectMany(x => x).ToArray() };
            if (l.Divisor != 1 || !Tie(ref l, ref blocks))
            {
                BlockInto(node, l, $"'{node.Name}' (DepthToSpace, DCR) reads channels that cannot be lined up with its {rule.Squares} blocks");
                return;
            }
            _layout[node.Output] = output with { NonZero = l.NonZero };
        }

        private static bool Aligned(Segment[] a, Segment[] b) =>
            a.Length == b.Length && a.Zip(b).All(p => p.First.Length == p.Second.Length);
    }
}
