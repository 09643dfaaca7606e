using Secateur.Graph;
using Secateur.Graph.Ops;

namespace Secateur.Pruning;

/// <summary>
/// Removes channels for real: returns a new, smaller <see cref="ModelGraph"/> whose initializers are the
/// originals with the pruned channels' rows, columns and entries cut out (conv filters and input channels,
/// biases, batch-norm parameters and statistics, linear columns) and whose conv/linear shapes shrink to match.
/// The input graph is not modified.
/// </summary>
public static class StructuredPruner
{
    /// <summary>Prunes channels <paramref name="remove"/>[group] of each group.</summary>
    /// <exception cref="SecateurException">
    /// A blocked group, an index out of range, a group emptied completely, or a removal that does not take the same
    /// positions in every block of a group grouped convolutions constrain (<see cref="PruningGroup.Period"/>).
    /// </exception>
    public static ModelGraph Prune(DependencyGraph dependencies, IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> remove)
    {
        ArgumentNullException.ThrowIfNull(dependencies);
        ArgumentNullException.ThrowIfNull(remove);
        var graph = dependencies.Graph;
        var cuts = Cuts(remove);
        var result = new ModelGraph(graph.Name);
        result.Inputs.AddRange(graph.Inputs);
        result.Outputs.AddRange(graph.Outputs);
        foreach (var kv in graph.Metadata) result.Metadata[kv.Key] = kv.Value;
        result.SourceOpset = graph.SourceOpset;
        var cutsByTensor = cuts.GroupBy(c => c.Key.Tensor, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToDictionary(c => c.Key.Axis, c => (IReadOnlySet<long>)c.Value), StringComparer.Ordinal);
        foreach (var (name, data) in graph.Initializers)
            result.Initializers.Add(name, cutsByTensor.TryGetValue(name, out var axes) ? Remove(data, axes) : data.Clone());
        // Attributes that count channels (Conv's group) follow the smaller initializers, constants that do (a Slice's
        // range of the channels) follow the removed channels.
        var kept = new KeptChannels(dependencies, remove);
        foreach (var node in graph.Nodes) result.Nodes.Add(OpRegistry.For(node).RewriteAfterPruning(node, graph, result, kept));
        // Constants a rewrite replaced (the old ranges) are dropped when no node reads them any more.
        var read = result.Nodes.SelectMany(n => n.Inputs).ToHashSet(StringComparer.Ordinal);
        foreach (var name in graph.Nodes.SelectMany(n => n.Inputs).Where(i => graph.IsInitializer(i) && !read.Contains(i)).Distinct().ToList())
            result.Initializers.Remove(name);
        GraphValidator.Validate(result);
        return result;
    }

    /// <summary>Per tensor and axis, the indices <paramref name="remove"/> drops (checked as <see cref="Prune"/> documents).</summary>
    internal static Dictionary<(string Tensor, int Axis), HashSet<long>> Cuts(IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> remove)
    {
        var cuts = new Dictionary<(string Tensor, int Axis), HashSet<long>>();
        foreach (var (group, indices) in remove)
        {
            if (indices.Count == 0) continue;
            if (!group.Prunable) throw new SecateurException(ErrorCode.ImpossibleTarget, $"group '{group.Name}' cannot be pruned: {group.BlockedReason}");
            if (indices.Any(i => i < 0 || i >= group.Channels))
                throw new SecateurException(ErrorCode.BadArgument, $"group '{group.Name}' has {group.Channels} channels; a channel index to remove is out of range");
            if (indices.Distinct().Count() >= group.Channels)
                throw new SecateurException(ErrorCode.ImpossibleTarget, $"removing all {group.Channels} channels of group '{group.Name}' would disconnect the network");
            if (group.Chunk > 1 && !group.IsAdmissible(indices))
                throw new SecateurException(ErrorCode.BadArgument,
                    $"group '{group.Name}' goes in runs of {group.Chunk} channels (a group normalization's groups, or the channels a DepthToSpace makes one of): its {group.Channels} channels are {group.Channels / group.Chunk} runs, and a removal must take whole runs");
            if (!group.IsAdmissible(indices))
                throw new SecateurException(ErrorCode.BadArgument,
                    $"group '{group.Name}' feeds grouped convolutions: its {group.Channels} channels are {group.Blocks} blocks of {group.Period}, and a removal must take the same positions in every block");
            foreach (var s in group.Slices)
            {
                var key = (s.Tensor, s.Axis);
                if (!cuts.TryGetValue(key, out var set)) cuts[key] = set = [];
                foreach (var j in indices)
                    for (long k = 0; k < s.Factor; k++) set.Add(s.Start(j) + k);
            }
        }
        return cuts;
    }

    /// <summary>Which indices of the original values a removal keeps, from the values' channel segments.</summary>
    private sealed class KeptChannels(DependencyGraph dependencies, IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> remove) : IPrunedChannels
    {
        public long[] OriginalShape(string value) => dependencies.Shapes[value];

        public long KeptBefore(string value, int axis, long position)
        {
            if (!dependencies.Values.TryGetValue(value, out var v) || v.Axis != axis) return position;
            long kept = 0, offset = 0;
            foreach (var (group, length) in v.Segments)
            {
                // After a DepthToSpace (CRD) each index is Divisor channels of the group, removed whole.
                long width = length / v.Divisor * v.Factor;
                var removed = group is not null && remove.TryGetValue(group, out var r) ? r.Select(j => j / v.Divisor).Distinct().ToList() : [];
                if (position >= offset + width)
                {
                    kept += width - removed.Count * v.Factor;
                    offset += width;
                    continue;
                }
                // Inside this segment: channel j covers [offset + j·Factor, offset + (j+1)·Factor).
                long inside = position - offset;
                kept += inside - removed.Sum(j => Math.Clamp(inside - j * v.Factor, 0, v.Factor));
                return kept;
            }
            return kept + (position - offset);
        }
    }

    /// <summary>A copy of <paramref name="data"/> without the given indices along <paramref name="axis"/>.</summary>
    public static TensorData Remove(TensorData data, int axis, IReadOnlySet<long> drop) =>
        Remove(data, new Dictionary<int, IReadOnlySet<long>> { [axis] = drop });

    /// <summary>A copy of <paramref name="data"/> without the given indices along each axis, made in one pass.</summary>
    public static TensorData Remove(TensorData data, IReadOnlyDictionary<int, IReadOnlySet<long>> drop)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(drop);
        var shape = data.Shape;
        if (drop.Keys.Any(a => a < 0 || a >= shape.Length)) throw new ArgumentOutOfRangeException(nameof(drop), "an axis is out of range");
        // Kept indices per axis up to the last cut one; everything behind it is copied as contiguous blocks.
        int last = drop.Keys.Max();
        var keep = new long[last + 1][];
        var newShape = (long[])shape.Clone();
        for (int a = 0; a <= last; a++)
        {
            keep[a] = drop.TryGetValue(a, out var d)
                ? Enumerable.Range(0, (int)shape[a]).Select(i => (long)i).Where(i => !d.Contains(i)).ToArray()
                : Enumerable.Range(0, (int)shape[a]).Select(i => (long)i).ToArray();
            newShape[a] = keep[a].Length;
        }
        long block = shape.Skip(last + 1).Aggregate(1L, (x, y) => x * y);
        return data.Type == ElementType.Float
            ? TensorData.FromFloats(Keep(data.Floats, shape, keep, block, TensorData.ElementCount(newShape)), newShape)
            : TensorData.FromLongs(Keep(data.Longs, shape, keep, block, TensorData.ElementCount(newShape)), newShape);
    }

    // Copies the kept blocks: walks the kept multi-indices of axes 0..last in row-major order.
    private static T[] Keep<T>(T[] src, long[] shape, long[][] keep, long block, long total)
    {
        var dst = new T[total];
        long d = 0;
        int lastAxis = keep.Length - 1;
        void Walk(int axis, long offset)
        {
            if (axis < lastAxis)
            {
                foreach (var k in keep[axis]) Walk(axis + 1, offset * shape[axis] + k);
                return;
            }
            long row = offset * shape[axis];
            if (block >= 16)
                foreach (var k in keep[axis])
                {
                    Array.Copy(src, (row + k) * block, dst, d, block);
                    d += block;
                }
            else // 1×1 and 3×3 kernels: element loops beat millions of tiny Array.Copy calls
                foreach (var k in keep[axis])
                    for (long e = (row + k) * block, end = e + block; e < end; e++) dst[d++] = src[e];
        }
        Walk(0, 0);
        return dst;
    }

    /// <summary>
    /// A copy of the graph in which the given channels are switched off instead of removed: every producer,
    /// per-channel and depthwise parameter of those channels is set to zero (consumers then read zeros). For
    /// activations that map 0 to 0 its outputs equal the pruned graph's — the proof used by the tests.
    /// </summary>
    public static ModelGraph ZeroOut(DependencyGraph dependencies, IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> channels)
    {
        ArgumentNullException.ThrowIfNull(dependencies);
        ArgumentNullException.ThrowIfNull(channels);
        var g = dependencies.Graph.Clone();
        foreach (var (group, indices) in channels)
            foreach (var s in group.Slices.Where(s => s.Role != SliceRole.Consumer))
            {
                var t = g.Initializers[s.Tensor];
                // Running variance must stay positive: zeroing scale and shift already zeroes the output.
                if (g.FindNode(s.Node) is { } node && OpRegistry.For(node).ReadsAsRunningStatistic(node, s.Tensor)) continue;
                long outer = t.Shape.Take(s.Axis).Aggregate(1L, (a, b) => a * b);
                long inner = t.Shape.Skip(s.Axis + 1).Aggregate(1L, (a, b) => a * b);
                long n = t.Shape[s.Axis];
                foreach (var j in indices)
                    for (long k = 0; k < s.Factor; k++)
                    {
                        long index = s.Start(j) + k;
                        for (long o = 0; o < outer; o++) Array.Clear(t.Floats, (int)((o * n + index) * inner), (int)inner);
                    }
            }
        return g;
    }
}
