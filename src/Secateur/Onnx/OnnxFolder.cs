using Secateur.Graph;

namespace Secateur.Onnx;

/// <summary>A node as read from the file, before it is folded or mapped to a <see cref="ModelGraph"/> op.</summary>
/// <param name="Name">Node name (invented when the file has none).</param>
/// <param name="OpType">ONNX op_type.</param>
/// <param name="Inputs">Input value names ("" for an omitted optional input).</param>
/// <param name="Outputs">Output value names.</param>
/// <param name="Attributes">Attributes Secateur can represent.</param>
/// <param name="Value">ConstantOfShape's tensor-valued <c>value</c> attribute, when present.</param>
internal sealed record RawNode(string Name, string OpType, List<string> Inputs, List<string> Outputs,
    List<KeyValuePair<string, AttributeValue>> Attributes, TensorData? Value = null);

/// <summary>
/// Turns the nodes of an exported ONNX file into <see cref="ModelGraph"/> nodes: folds the shape arithmetic
/// exporters emit (Shape, Gather, Unsqueeze, Concat, Cast, ... on constants and on known shapes) into constants,
/// and maps ops whose form changed across opsets or that Secateur expresses with other ops (Split → Slice,
/// ReduceMean over H, W → GlobalAveragePool, other means → ReduceMean with attribute axes, Squeeze/Unsqueeze → Reshape, Pad with axes → full pads) onto
/// Secateur's op set.
/// </summary>
/// <remarks>
/// Everything is evaluated at two batch sizes at once. A folded constant that differs between them depends on the
/// batch: a Reshape target of that kind is rewritten with 0 (copy the input's dimension) or -1 (infer) so that the
/// graph keeps a dynamic batch; anywhere else it is reported as a problem. Nodes that are neither foldable nor
/// Secateur ops are reported to <c>unsupported</c>, all of them, so the caller can list every one at once.
/// </remarks>
internal sealed class OnnxFolder
{
    private const long BatchA = 2, BatchB = 3;

    private readonly record struct Pair(TensorData A, TensorData B)
    {
        public bool Fixed => ReferenceEquals(A, B) || Same(A, B);
    }

    private readonly int _opset;
    private readonly Action<string, string> _unsupported;
    private readonly Action<string> _problem;
    private readonly Dictionary<string, Pair> _const = new(StringComparer.Ordinal);
    private readonly HashSet<string> _original;
    private readonly Dictionary<string, (long[] A, long[] B)> _shape = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);
    private readonly List<Node> _nodes = [];
    // Initializers made by folding, by name, in creation order.
    private readonly OrderedDictionary<string, TensorData> _made = new(StringComparer.Ordinal);

    private OnnxFolder(int opset, IEnumerable<KeyValuePair<string, TensorData>> constants, Action<string, string> unsupported, Action<string> problem)
    {
        _opset = opset;
        _unsupported = unsupported;
        _problem = problem;
        foreach (var (name, t) in constants) _const[name] = new Pair(t, t);
        _original = _const.Keys.ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// Folds and maps <paramref name="nodes"/> (in topological order). Returns the graph's nodes and its initializers:
    /// the file's constants that are still read (or that no node ever read), then the ones folding made.
    /// </summary>
    public static (List<Node> Nodes, List<KeyValuePair<string, TensorData>> Initializers) Fold(
        IReadOnlyList<RawNode> nodes, IReadOnlyList<KeyValuePair<string, TensorData>> constants, IReadOnlyList<ValueInfo> inputs,
        IEnumerable<string> outputs, int opset, Action<string, string> unsupported, Action<string> problem)
    {
        var f = new OnnxFolder(opset, constants, unsupported, problem);
        foreach (var i in inputs)
        {
            f._taken.Add(i.Name);
            f._shape[i.Name] = (i.Concrete(BatchA), i.Concrete(BatchB));
        }
        foreach (var n in nodes)
        {
            f._taken.Add(n.Name);
            f._taken.UnionWith(n.Inputs);
            f._taken.UnionWith(n.Outputs);
        }
        f._taken.UnionWith(f._const.Keys);
        foreach (var n in nodes) f.Visit(n);

        var readBefore = nodes.SelectMany(n => n.Inputs).ToHashSet(StringComparer.Ordinal);
        var outputSet = outputs.ToHashSet(StringComparer.Ordinal);
        var readNow = f._nodes.SelectMany(n => n.Inputs).ToHashSet(StringComparer.Ordinal);
        var inits = new List<KeyValuePair<string, TensorData>>();
        // A constant nothing read in the file stays (saving and loading must not lose it); one that only folded
        // nodes or attribute-valued inputs read goes with them.
        foreach (var (name, t) in constants)
            if (readNow.Contains(name) || outputSet.Contains(name) || !readBefore.Contains(name)) inits.Add(KeyValuePair.Create(name, t));
        foreach (var (name, t) in f._made)
            if (readNow.Contains(name) || outputSet.Contains(name)) inits.Add(KeyValuePair.Create(name, t));
        foreach (var o in outputSet.Where(o => f._const.ContainsKey(o) && !inits.Any(kv => kv.Key == o)))
            problem($"graph output '{o}' is a constant");
        return (f.Unshare(inits), inits);
    }

    private static bool Same(TensorData a, TensorData b) =>
        a.Type == b.Type && a.Shape.SequenceEqual(b.Shape) && a.Floats.AsSpan().SequenceEqual(b.Floats) && a.Longs.AsSpan().SequenceEqual(b.Longs);

    private string Unique(string name)
    {
        var candidate = name;
        for (int k = 1; !_taken.Add(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    /// <summary>A Node carrying a raw node's name and attributes (for attribute access and error messages).</summary>
    private static Node Carrier(RawNode n, OpKind kind = OpKind.Identity) => new(n.Name, kind, n.Inputs, n.Outputs, n.Attributes);

    private TensorData? ConstA(string name) => name.Length > 0 && _const.TryGetValue(name, out var p) ? p.A : null;

    private void Visit(RawNode n)
    {
        var present = n.Inputs.Where(i => i.Length > 0).ToList();
        if (n.OpType == "Shape" && present.Count == 1 && ShapeOf(present[0]) is { } s)
        {
            _const[n.Outputs[0]] = new Pair(ShapeTensor(n, s.A), ShapeTensor(n, s.B));
            return;
        }
        if ((present.Count > 0 || n.OpType == "Range") && present.All(_const.ContainsKey) && ConstantEvaluator.Ops.Contains(n.OpType)
            && n.Outputs.Count(o => o.Length > 0) == 1)
        {
            var carrier = Carrier(n, OpKinds.TryParse(n.OpType, out var k) ? k : OpKind.Identity);
            var a = ConstantEvaluator.Evaluate(carrier, n.OpType, n.Inputs.Select(i => i.Length > 0 ? _const[i].A : null).ToList(), n.Value);
            var b = present.All(i => _const[i].Fixed) ? a
                : ConstantEvaluator.Evaluate(carrier, n.OpType, n.Inputs.Select(i => i.Length > 0 ? _const[i].B : null).ToList(), n.Value);
            _const[n.Outputs[0]] = new Pair(a, b);
            return;
        }
        switch (n.OpType)
        {
            case "Split": Split(n); return;
            case "ReduceMean": ReduceMean(n); return;
            case "Squeeze" or "Unsqueeze": SqueezeAsReshape(n); return;
            case "Cast" when n.Attributes.Any(a => a.Key == "to" && a.Value.Int == 1):
                // A cast of a float activation to float is an identity (exporters emit it around shape ops).
                Emit(new Node(n.Name, OpKind.Identity, [n.Inputs[0]], n.Outputs));
                return;
            case "Pad": Pad(n); return;
            case "Resize": Resize(n); return;
            case "Upsample": Upsample(n); return;
            case "Softmax" when _opset < 13:
                {
                    // Before opset 13 Softmax normalised over all axes from `axis` (default 1) on; Secateur's (13+)
                    // normalises over one. They agree when that axis is the last.
                    long axis = Carrier(n).Int("axis", 1);
                    if (ShapeOf(n.Inputs[0]) is not { } xs || (axis < 0 ? axis + xs.A.Length : axis) != xs.A.Length - 1)
                    {
                        _unsupported("Softmax before opset 13 over more than the last axis", n.Name);
                        return;
                    }
                    Emit(new Node(n.Name, OpKind.Softmax, n.Inputs, n.Outputs, [KeyValuePair.Create("axis", AttributeValue.Of(-1L))]));
                    return;
                }
            case "BatchNormalization":
                {
                    var attrs = n.Attributes.Where(a => a.Key is not ("training_mode" or "spatial")).ToList();
                    if (n.Attributes.Any(a => a.Key == "training_mode" && a.Value.Int != 0))
                        _problem($"node '{n.Name}' (BatchNormalization) runs in training mode (training_mode = 1)");
                    // Outputs beyond Y (running statistics in training mode) are not kept.
                    Emit(new Node(n.Name, OpKind.BatchNormalization, n.Inputs, [n.Outputs[0]], attrs));
                    return;
                }
        }
        if (OpKinds.TryParse(n.OpType, out var kind))
        {
            Emit(new Node(n.Name, kind, TrimOptional(n.Inputs), n.Outputs, n.Attributes));
            return;
        }
        _unsupported(n.OpType, n.Name);
    }

    private static List<string> TrimOptional(List<string> inputs)
    {
        var list = inputs.ToList();
        while (list.Count > 1 && list[^1].Length == 0) list.RemoveAt(list.Count - 1);
        return list;
    }

    private (long[] A, long[] B)? ShapeOf(string value) =>
        _shape.TryGetValue(value, out var s) ? s : _const.TryGetValue(value, out var c) ? (c.A.Shape, c.B.Shape) : null;

    private static TensorData ShapeTensor(RawNode n, long[] shape)
    {
        // Opset 15 added start/end to take part of the shape.
        long rank = shape.Length;
        long start = Carrier(n).Int("start", 0), end = Carrier(n).Int("end", rank);
        start = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
        end = Math.Clamp(end < 0 ? end + rank : end, 0, rank);
        var part = shape[(int)start..(int)Math.Max(start, end)];
        return TensorData.FromLongs(part, part.Length);
    }

    /// <summary>
    /// Adds <paramref name="node"/> to the graph: constant operands become initializers (a batch-dependent Reshape
    /// target is rewritten with 0 or -1), and its output shape at both batch sizes is recorded.
    /// </summary>
    private void Emit(Node node)
    {
        var inputs = node.Inputs.ToList();
        for (int i = 0; i < inputs.Count; i++)
        {
            var v = inputs[i];
            // The file's own initializers stay as they are; folded values become initializers named after them.
            if (v.Length == 0 || !_const.TryGetValue(v, out var pair) || _original.Contains(v)) continue;
            if (pair.Fixed) inputs[i] = Materialize(v, pair.A);
            else if (node.Op == OpKind.Reshape && i == 1 && DynamicTarget(node, pair) is { } target) inputs[i] = Materialize(v, target);
            else
            {
                _problem($"node '{node.Name}' ({node.Op}): input '{v}' depends on the batch size, which Secateur cannot express");
                return;
            }
        }
        var emitted = node.With(inputs: inputs);
        _nodes.Add(emitted);
        var insA = new long[inputs.Count][];
        var insB = new long[inputs.Count][];
        for (int i = 0; i < inputs.Count; i++)
        {
            if (node.Inputs[i].Length == 0) { insA[i] = []; insB[i] = []; continue; }
            if (ShapeOf(node.Inputs[i]) is not { } s) return; // after an unsupported op: shapes unknown from here on
            (insA[i], insB[i]) = s;
        }
        var a = ShapeInference.OutputShape(node, insA, ConstA);
        var b = ShapeInference.OutputShape(node, insB, name => name.Length > 0 && _const.TryGetValue(name, out var p) ? p.B : null);
        _shape[node.Output] = (a, b);
    }

    /// <summary>Makes a constant an initializer called <paramref name="name"/>, or a fresh name when that one is taken by other data.</summary>
    private string Materialize(string name, TensorData data)
    {
        if (_made.TryGetValue(name, out var existing) && Same(existing, data)) return name;
        bool free = !_made.ContainsKey(name) && !_original.Contains(name) && (_taken.Add(name) || _const.ContainsKey(name));
        var chosen = free ? name : Unique(name);
        _made.Add(chosen, data.Clone());
        return chosen;
    }

    /// <summary>
    /// A Reshape target that is right at every batch size: dimensions that follow the input's same dimension become 0,
    /// one remaining batch-dependent dimension becomes -1; null when neither works.
    /// </summary>
    private TensorData? DynamicTarget(Node node, Pair target)
    {
        if (ShapeOf(node.Inputs[0]) is not { } x || target.A.Type != ElementType.Int64 || target.A.Count != target.B.Count) return null;
        var a = target.A.Longs;
        var b = target.B.Longs;
        var result = (long[])a.Clone();
        int inferred = -1;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i]) continue;
            if (i < x.A.Length && a[i] == x.A[i] && b[i] == x.B[i]) result[i] = 0;
            else if (inferred < 0 && !a.Contains(-1)) { inferred = i; result[i] = -1; }
            else return null;
        }
        if (node.Int("allowzero", 0) != 0 && result.Contains(0)) return null;
        return TensorData.FromLongs(result, result.Length);
    }

    private void Split(RawNode n)
    {
        var x = n.Inputs[0];
        if (ShapeOf(x) is not { } s) { _unsupported(n.OpType, n.Name); return; }
        var carrier = Carrier(n);
        int rank = s.A.Length;
        long axisAttr = carrier.Int("axis", 0);
        int axis = (int)(axisAttr < 0 ? axisAttr + rank : axisAttr);
        if (axis < 0 || axis >= rank) { _problem($"node '{n.Name}' (Split): axis {axisAttr} is out of range for rank {rank}"); return; }
        if (axis == 0 && s.A[0] != s.B[0]) { _problem($"node '{n.Name}' (Split) splits the batch axis"); return; }
        long dim = s.A[axis];
        long[] sizes;
        if (carrier.Ints("split") is { } attr) sizes = [.. attr];
        else if (n.Inputs.Count > 1 && n.Inputs[1].Length > 0)
        {
            if (!_const.TryGetValue(n.Inputs[1], out var p) || !p.Fixed || p.A.Type != ElementType.Int64)
            {
                _problem($"node '{n.Name}' (Split): split sizes '{n.Inputs[1]}' are not constant");
                return;
            }
            sizes = p.A.Longs;
        }
        else
        {
            // Equal parts (opset 18's num_outputs gives the count; the last part may be smaller).
            long parts = carrier.Int("num_outputs", n.Outputs.Count);
            long size = (dim + parts - 1) / parts;
            sizes = Enumerable.Range(0, (int)parts).Select(i => Math.Min(size, dim - i * size)).ToArray();
        }
        if (sizes.Length != n.Outputs.Count || sizes.Sum() != dim || sizes.Any(v => v < 0))
        {
            _problem($"node '{n.Name}' (Split): sizes [{string.Join(",", sizes)}] do not split dimension {dim} into {n.Outputs.Count} outputs");
            return;
        }
        long offset = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            var name = i == 0 ? n.Name : Unique($"{n.Name}_{i}");
            if (n.Outputs[i].Length > 0)
            {
                var starts = Materialize($"{name}.starts", TensorData.FromLongs([offset], 1));
                var ends = Materialize($"{name}.ends", TensorData.FromLongs([offset + sizes[i]], 1));
                var axes = Materialize($"{name}.axes", TensorData.FromLongs([axis], 1));
                foreach (var c in new[] { starts, ends, axes }) _const[c] = new Pair(_made[c], _made[c]);
                Emit(new Node(name, OpKind.Slice, [x, starts, ends, axes], [n.Outputs[i]]));
            }
            offset += sizes[i];
        }
    }

    private void ReduceMean(RawNode n)
    {
        var carrier = Carrier(n);
        var x = n.Inputs[0];
        if (ShapeOf(x) is not { } s) { _unsupported(n.OpType, n.Name); return; }
        int rank = s.A.Length;
        var axes = ConstantEvaluator.AxesOf(carrier, n.Inputs.Select(ConstA).ToList(), 1);
        if (n.Inputs.Count > 1 && n.Inputs[1].Length > 0 && !(_const.TryGetValue(n.Inputs[1], out var p) && p.Fixed))
        {
            _problem($"node '{n.Name}' (ReduceMean): axes '{n.Inputs[1]}' are not constant");
            return;
        }
        if (axes is null || axes.Length == 0)
            axes = carrier.Int("noop_with_empty_axes", 0) != 0 ? [] : Enumerable.Range(0, rank).Select(a => (long)a).ToArray();
        var norm = axes.Select(a => a < 0 ? a + rank : a).Order().ToArray();
        if (rank < 3 || !norm.SequenceEqual(Enumerable.Range(2, rank - 2).Select(a => (long)a)))
        {
            if (norm.Length == 0 || norm.Any(a => a < 0 || a >= rank))
            {
                _problem($"node '{n.Name}' (ReduceMean): axes [{string.Join(",", axes)}] do not fit rank {rank}");
                return;
            }
            if (norm.Contains(0) && s.A[0] != s.B[0])
            {
                _problem($"node '{n.Name}' (ReduceMean) averages over the batch axis");
                return;
            }
            // Any other mean (over channels in a written-out LayerNorm, over the last axis of a channels-last one) is
            // Secateur's ReduceMean, its axes an attribute whichever form the file used.
            Emit(new Node(n.Name, OpKind.ReduceMean, [x], [n.Outputs[0]],
            [
                KeyValuePair.Create("axes", AttributeValue.Of(norm)),
                KeyValuePair.Create("keepdims", AttributeValue.Of(carrier.Int("keepdims", 1) != 0 ? 1L : 0L)),
            ]));
            return;
        }
        if (carrier.Int("keepdims", 1) != 0)
        {
            Emit(new Node(n.Name, OpKind.GlobalAveragePool, [x], [n.Outputs[0]]));
            return;
        }
        // keepdims 0: global pooling, then Flatten drops the 1x1 spatial dimensions.
        var pooled = Unique($"{n.Outputs[0]}.pooled");
        Emit(new Node(n.Name, OpKind.GlobalAveragePool, [x], [pooled]));
        Emit(new Node(Unique($"{n.Name}.flatten"), OpKind.Flatten, [pooled], [n.Outputs[0]], [KeyValuePair.Create("axis", AttributeValue.Of(1L))]));
    }

    private void SqueezeAsReshape(RawNode n)
    {
        var x = n.Inputs[0];
        if (ShapeOf(x) is not { } s) { _unsupported(n.OpType, n.Name); return; }
        var carrier = Carrier(n);
        if (n.Inputs.Count > 1 && n.Inputs[1].Length > 0 && !(_const.TryGetValue(n.Inputs[1], out var p) && p.Fixed))
        {
            _problem($"node '{n.Name}' ({n.OpType}): axes '{n.Inputs[1]}' are not constant");
            return;
        }
        // The same evaluation as for constants, on a stand-in tensor of the input's shape.
        TensorData Shaped(long[] shape)
        {
            var stand = TensorData.FromLongs(new long[TensorData.ElementCount(shape)], shape);
            return ConstantEvaluator.Evaluate(carrier, n.OpType, [stand, n.Inputs.Count > 1 ? ConstA(n.Inputs[1]) : null], null);
        }
        var a = Shaped(s.A).Shape;
        var b = Shaped(s.B).Shape;
        var shapeName = Unique($"{n.Name}.shape");
        _const[shapeName] = new Pair(TensorData.FromLongs(a, a.Length), TensorData.FromLongs(b, b.Length));
        Emit(new Node(n.Name, OpKind.Reshape, [x, shapeName], n.Outputs));
    }

    private void Pad(RawNode n)
    {
        var carrier = Carrier(n);
        var x = n.Inputs[0];
        if (ShapeOf(x) is not { } s) { _unsupported(n.OpType, n.Name); return; }
        int rank = s.A.Length;
        var mode = carrier.String("mode", "constant");
        if (mode is not ("constant" or "reflect" or "edge"))
        {
            _unsupported($"Pad in mode '{mode}'", n.Name);
            return;
        }
        TensorData? Fixed(int i, string what)
        {
            if (i >= n.Inputs.Count || n.Inputs[i].Length == 0) return null;
            if (_const.TryGetValue(n.Inputs[i], out var p) && p.Fixed) return p.A;
            _problem($"node '{n.Name}' (Pad): {what} '{n.Inputs[i]}' is not constant");
            return null;
        }
        long[]? pads = carrier.Ints("pads")?.ToArray() ?? Fixed(1, "pads")?.Longs;
        if (pads is null) { _problem($"node '{n.Name}' (Pad): has no pads"); return; }
        if (Fixed(3, "axes") is { } axesData)
        {
            // Opset 18: pads only for the listed axes.
            var full = new long[2 * rank];
            int k = axesData.Longs.Length;
            if (pads.Length != 2 * k) { _problem($"node '{n.Name}' (Pad): {pads.Length} pads for {k} axes"); return; }
            for (int i = 0; i < k; i++)
            {
                long a = axesData.Longs[i] < 0 ? axesData.Longs[i] + rank : axesData.Longs[i];
                full[a] = pads[i];
                full[a + rank] = pads[i + k];
            }
            pads = full;
        }
        // A file Secateur wrote already has the canonical form: keep its initializers as they are.
        bool canonical = carrier.Ints("pads") is null && !(n.Inputs.Count > 3 && n.Inputs[3].Length > 0) && _original.Contains(n.Inputs[1]);
        var padsName = canonical ? n.Inputs[1] : Materialize($"{n.Name}.pads", TensorData.FromLongs(pads, pads.Length));
        if (!canonical) _const[padsName] = new Pair(_made[padsName], _made[padsName]);
        var inputs = new List<string> { x, padsName };
        var fill = carrier.Attributes.ContainsKey("value") ? TensorData.FromFloats([carrier.Float("value", 0)]) : Fixed(2, "constant_value");
        if (fill is not null && (fill.Type != ElementType.Float || fill.Count != 1))
        {
            _problem($"node '{n.Name}' (Pad): constant_value must be a float scalar");
            return;
        }
        if (n.Inputs.Count > 2 && _original.Contains(n.Inputs[2])) inputs.Add(n.Inputs[2]);
        else if (fill is not null && fill.Floats[0] != 0)
        {
            var fillName = Materialize($"{n.Name}.value", TensorData.FromFloats([fill.Floats[0]]));
            _const[fillName] = new Pair(_made[fillName], _made[fillName]);
            inputs.Add(fillName);
        }
        var attrs = mode == "constant" ? [] : new List<KeyValuePair<string, AttributeValue>> { KeyValuePair.Create("mode", AttributeValue.Of(mode)) };
        Emit(new Node(n.Name, OpKind.Pad, inputs, [n.Outputs[0]], attrs));
    }

    /// <summary>
    /// Resize in Secateur's form X, "", scales or X, "", "", sizes. Sizes computed from the input's shape (exporters
    /// write <c>Concat(Shape(x)[:2], spatial)</c>) depend on the batch; where every such size follows the input's own
    /// dimension and the others are fixed, they become the scales that give the same output and the same coordinate
    /// arithmetic (ONNX Runtime derives its scales from sizes as output / input), so the batch stays dynamic.
    /// </summary>
    private void Resize(RawNode n)
    {
        var x = n.Inputs[0];
        if (ShapeOf(x) is not { } s) { _unsupported(n.OpType, n.Name); return; }
        if (Carrier(n).String("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize")
        {
            _unsupported("Resize with coordinate_transformation_mode 'tf_crop_and_resize'", n.Name);
            return;
        }
        Pair? Operand(int i)
        {
            if (i >= n.Inputs.Count || n.Inputs[i].Length == 0) return null;
            if (!_const.TryGetValue(n.Inputs[i], out var p))
            {
                _problem($"node '{n.Name}' (Resize): input '{n.Inputs[i]}' is computed from activations; Secateur needs it constant");
                return null;
            }
            // Opset 11 requires roi and scales even when unused; an empty tensor stands for "omitted".
            return p.A.Count == 0 && p.B.Count == 0 ? null : p;
        }
        var scales = Operand(2);
        var sizes = Operand(3);
        int rank = s.A.Length;
        var attrs = n.Attributes.ToList();
        if (scales is { } sc)
        {
            if (!sc.Fixed || sc.A.Type != ElementType.Float) { _problem($"node '{n.Name}' (Resize): scales '{n.Inputs[2]}' are not constant floats"); return; }
            // A file Secateur wrote already has them as an initializer of its own: keep its name.
            EmitResize(n, x, _original.Contains(n.Inputs[2]) ? n.Inputs[2] : Constant($"{n.Name}.scales", sc.A), "", attrs);
            return;
        }
        if (sizes is not { } sz || sz.A.Type != ElementType.Int64 || sz.A.Count != rank || sz.B.Count != rank)
        {
            _problem($"node '{n.Name}' (Resize): needs constant scales or rank-{rank} int64 sizes");
            return;
        }
        // Scales reproducing the sizes at both batch sizes, checked with ONNX Runtime's float arithmetic.
        var derived = new float[rank];
        bool exact = true;
        for (int i = 0; i < rank && exact; i++)
        {
            long a = sz.A.Longs[i], b = sz.B.Longs[i];
            if (a == s.A[i] && b == s.B[i]) derived[i] = 1f;
            else if (a == b && s.A[i] == s.B[i] && s.A[i] > 0)
            {
                derived[i] = (float)a / s.A[i];
                exact = (long)(derived[i] * (float)s.A[i]) == a;
            }
            else exact = false;
        }
        if (exact)
            EmitResize(n, x, Constant($"{n.Name}.scales", TensorData.FromFloats(derived, rank)), "", attrs);
        else if (sz.Fixed)
            EmitResize(n, x, "", _original.Contains(n.Inputs[3]) ? n.Inputs[3] : Constant($"{n.Name}.sizes", sz.A), attrs);
        else
            _problem($"node '{n.Name}' (Resize): sizes '{n.Inputs[3]}' depend on the batch size in a way no constant scales reproduce");
    }

    /// <summary>
    /// Upsample (opsets 7–9, scales as attribute or input) as the Resize it is: asymmetric coordinates, and nearest
    /// taking the floor, which is what Upsample computes.
    /// </summary>
    private void Upsample(RawNode n)
    {
        var carrier = Carrier(n);
        var x = n.Inputs[0];
        if (ShapeOf(x) is null) { _unsupported(n.OpType, n.Name); return; }
        float[]? scales = carrier.Attributes.TryGetValue("scales", out var attr) && attr.Kind == AttributeKind.Floats ? [.. attr.Floats] : null;
        if (scales is null && n.Inputs.Count > 1 && n.Inputs[1].Length > 0)
        {
            if (!_const.TryGetValue(n.Inputs[1], out var p) || !p.Fixed || p.A.Type != ElementType.Float)
            {
                _problem($"node '{n.Name}' (Upsample): scales '{n.Inputs[1]}' are not constant floats");
                return;
            }
            scales = p.A.Floats;
        }
        if (scales is null) { _problem($"node '{n.Name}' (Upsample): has no scales"); return; }
        // Upsample's nearest only enlarges; below 1 ONNX Runtime rounds differently.
        if (scales.Any(v => v < 1f)) { _unsupported("Upsample with a scale below 1", n.Name); return; }
        var mode = carrier.String("mode", "nearest");
        if (mode is "bilinear") mode = "linear";
        if (mode is not ("nearest" or "linear")) { _unsupported($"Upsample in mode '{mode}'", n.Name); return; }
        var attrs = new List<KeyValuePair<string, AttributeValue>>
        {
            KeyValuePair.Create("coordinate_transformation_mode", AttributeValue.Of("asymmetric")),
            KeyValuePair.Create("mode", AttributeValue.Of(mode)),
        };
        if (mode == "nearest") attrs.Add(KeyValuePair.Create("nearest_mode", AttributeValue.Of("floor")));
        EmitResize(n, x, Constant($"{n.Name}.scales", TensorData.FromFloats(scales, scales.Length)), "", attrs);
    }

    /// <summary>A folded constant as an initializer the emitted node reads (kept as is when it is one of the file's own).</summary>
    private string Constant(string name, TensorData data)
    {
        var chosen = Materialize(name, data);
        _const[chosen] = new Pair(_made[chosen], _made[chosen]);
        return chosen;
    }

    private void EmitResize(RawNode n, string x, string scales, string sizes, List<KeyValuePair<string, AttributeValue>> attrs)
    {
        List<string> inputs = sizes.Length > 0 ? [x, "", "", sizes] : [x, "", scales];
        Emit(new Node(n.Name, OpKind.Resize, inputs, [n.Outputs[0]], attrs));
    }

    /// <summary>
    /// Gives every node its own copy of a float initializer that several nodes read (exporters deduplicate equal
    /// tensors, and Identity nodes alias them), so that pruning one layer never changes another's weights.
    /// </summary>
    private List<Node> Unshare(List<KeyValuePair<string, TensorData>> inits)
    {
        // Scalars (clip bounds, a shared constant factor) never lose channels; sharing them is harmless.
        var floats = inits.Where(kv => kv.Value.Type == ElementType.Float && kv.Value.Count > 1).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<Node>();
        foreach (var node in _nodes)
        {
            var inputs = node.Inputs.ToList();
            bool changed = false;
            for (int i = 0; i < inputs.Count; i++)
            {
                var v = inputs[i];
                if (!floats.Contains(v) || seen.Add(v)) continue;
                var copy = Unique($"{node.Name}.{i}.{v}");
                var data = inits.First(kv => kv.Key == v).Value.Clone();
                inits.Add(KeyValuePair.Create(copy, data));
                inputs[i] = copy;
                changed = true;
            }
            result.Add(changed ? node.With(inputs: inputs) : node);
        }
        return result;
    }
}
