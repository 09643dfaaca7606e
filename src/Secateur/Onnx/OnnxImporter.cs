using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Secateur.Graph;
using Secateur.Onnx.Proto;
using AttrType = Secateur.Onnx.Proto.AttributeProto.Types.AttributeType;
using DataType = Secateur.Onnx.Proto.TensorProto.Types.DataType;

namespace Secateur.Onnx;

/// <summary>
/// Turns a parsed ModelProto into a validated <see cref="ModelGraph"/>; see <see cref="OnnxSerializer"/> for the
/// conversions. Unsupported content is collected and reported in one exception, so that a user sees everything
/// standing between the file and Secateur at once rather than one problem per attempt.
/// </summary>
internal sealed class OnnxImporter
{
    private readonly string _source;
    private readonly string? _directory;
    // Unsupported op label → descriptions of the nodes using it, in file order.
    private readonly OrderedDictionary<string, List<string>> _unsupportedOps = new(StringComparer.Ordinal);
    private readonly List<string> _problems = [];

    /// <summary>
    /// The operator sets whose op forms the importer knows. Files below 11 are read by translating their attribute forms
    /// (Pad, Slice, BatchNormalization's spatial) into the 11+ forms Secateur keeps, so they save at any supported opset.
    /// The top is 26, the newest the bundled ONNX Runtime 1.31 runs; see <see cref="RevisedAfter21"/> for why 22–26 read
    /// as 21 does.
    /// </summary>
    internal const int MinOpset = 7, MaxOpset = 26;

    /// <summary>
    /// Every op Secateur reads (its ops and the shape arithmetic the folder evaluates) that ONNX revised in opsets 22–26,
    /// with the opsets and what the revision changed, from ONNX's docs/Changelog.md: null when the meaning for float
    /// models is the one Secateur implements (types added: bfloat16, float8, int4, float4; wording), else why not — a file
    /// at or past that opset using the op is refused, naming the node and the opset. An op not listed is unchanged since
    /// opset 21 or older. Opset 27 revises Range (folded here) and is past what ONNX Runtime 1.31 runs.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, (int[] Opsets, string? Changed)> RevisedAfter21 =
        new Dictionary<string, (int[], string?)>(StringComparer.Ordinal)
        {
            // Opset 22: bfloat16 added to these float ops; AveragePool and MaxPool also say that with ceil_mode a window
            // starting in the right padding is dropped, which is what ConvGeometry (and PyTorch, and ORT) always did.
            ["Conv"] = ([22], null), ["ConvTranspose"] = ([22], null), ["AveragePool"] = ([22], null), ["MaxPool"] = ([22], null),
            ["GlobalAveragePool"] = ([22], null), ["GlobalMaxPool"] = ([22], null), ["InstanceNormalization"] = ([22], null),
            ["Elu"] = ([22], null), ["Selu"] = ([22], null), ["Mish"] = ([22], null), ["HardSigmoid"] = ([22], null),
            ["HardSwish"] = ([22], null), ["Softplus"] = ([22], null),
            // Dropout 22: float8 types; the ratio text no longer says an omitted ratio means 0 (its default stays 0.5).
            ["Dropout"] = ([22], null),
            // Opsets 23, 24, 25: float4e2m1, float8e8m0, int2/uint2 added to these; Cast's conversion tables for float8
            // and its round_mode (float8e8m0 only) do not concern float and integer casts.
            ["Cast"] = ([23, 24, 25], null), ["Constant"] = ([23, 24, 25], null), ["ConstantOfShape"] = ([23, 24, 25], null),
            ["Flatten"] = ([23, 24, 25], null), ["Identity"] = ([23, 24, 25], null), ["Pad"] = ([23, 24, 25], null),
            ["Reshape"] = ([23, 24, 25], null), ["Shape"] = ([23, 24, 25], null), ["Squeeze"] = ([23, 24, 25], null),
            ["Unsqueeze"] = ([23, 24, 25], null), ["Transpose"] = ([23, 24, 25], null),
        };

    private OnnxImporter(string source, string? directory)
    {
        _source = source;
        _directory = directory;
    }

    /// <summary>Imports <paramref name="model"/>; <paramref name="directory"/> is where external tensor data lives (null: in memory, none).</summary>
    public static ModelGraph Import(ModelProto model, string source, string? directory = null)
    {
        try
        {
            return new OnnxImporter(source, directory).Run(model);
        }
        catch (SecateurException e) when (!e.Message.StartsWith($"'{source}'", StringComparison.Ordinal))
        {
            // Validator and shape-inference messages name the node; add the file so the user knows which model.
            throw new SecateurException(e.Code, $"'{source}': {e.Message}", e);
        }
    }

    private ModelGraph Run(ModelProto model)
    {
        var gp = model.Graph ?? throw Bad("has no graph; it is not an ONNX model");
        if (!model.HasIrVersion) throw Bad("has no ir_version; it is not an ONNX model");
        if (!model.OpsetImport.Any(o => IsDefaultDomain(o.Domain)))
            throw Bad("imports no ai.onnx operator set (opset_import); it is truncated or not an ONNX model");
        int opset = (int)model.OpsetImport.Where(o => IsDefaultDomain(o.Domain)).Max(o => o.Version);
        if (opset is < MinOpset or > MaxOpset)
            _problems.Add($"opset {opset} (Secateur reads opsets {MinOpset} to {MaxOpset}, the newest ONNX Runtime 1.31 runs; convert the model with onnx.version_converter)");
        else if (opset > 21)
            foreach (var n in gp.Node.Where(n => IsDefaultDomain(n.Domain)))
                if (RevisedAfter21.TryGetValue(n.OpType, out var r) && r.Changed is { } changed && r.Opsets.Any(v => v <= opset))
                    _problems.Add($"node '{n.Name}' ({n.OpType}) at opset {opset}: {changed}");
        if (gp.SparseInitializer.Count > 0)
            _problems.Add($"sparse initializers ({string.Join(", ", gp.SparseInitializer.Select(s => $"'{s.Values?.Name}'"))}) are not supported");

        // Constants in file order: initializers, then the outputs of Constant nodes.
        var constants = new OrderedDictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in gp.Initializer)
        {
            if (string.IsNullOrEmpty(t.Name)) throw Bad("has an initializer without a name");
            if (!constants.TryAdd(t.Name, t)) throw Invalid($"initializer '{t.Name}' is defined twice");
        }

        var names = NodeNames(gp);
        var nodes = new List<RawNode>();
        var tensorAttributes = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        for (int i = 0; i < gp.Node.Count; i++)
        {
            var p = gp.Node[i];
            if (!IsDefaultDomain(p.Domain))
            {
                Unsupported($"{p.Domain}.{p.OpType}", names[i]);
                continue;
            }
            if (p.OpType == "Constant")
            {
                ReadConstant(p, names[i], constants);
                continue;
            }
            // ConstantOfShape's fill value is a tensor attribute, the only one Secateur reads.
            var value = p.OpType == "ConstantOfShape" ? p.Attribute.FirstOrDefault(a => a.Name == "value" && a.T is not null) : null;
            if (value is not null) tensorAttributes[names[i]] = value.T;
            nodes.Add(new RawNode(names[i], p.OpType, [.. p.Input], [.. p.Output], ReadAttributes(p, names[i], value)));
        }

        if (opset < 11) foreach (var n in nodes) UpgradeLegacyForm(n, opset, constants);

        // Names of constants before any rewrite, so a dropped ratio constant is not mistaken for a real input.
        var constantNames = constants.Keys.ToHashSet(StringComparer.Ordinal);
        var outputNames = gp.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in nodes.Where(n => n.OpType == "Dropout")) RestoreDropout(n, nodes, constants, outputNames);
        for (int i = 0; i < nodes.Count; i++)
            if (tensorAttributes.TryGetValue(nodes[i].Name, out var t) && ReadTensor(t, $"{nodes[i].Name}.value") is { } v)
                nodes[i] = nodes[i] with { Value = v };

        var tensors = new List<KeyValuePair<string, TensorData>>();
        foreach (var (name, t) in constants)
            if (ReadTensor(t, name) is { } data) tensors.Add(KeyValuePair.Create(name, data));

        var inputs = gp.Input.Where(v => !constantNames.Contains(v.Name))
            .Select(v => ReadValueInfo(v, "graph input")).ToList();
        var outputs = gp.Output.Select(v => ReadValueInfo(v, "graph output")).ToList();

        // Fold shape arithmetic and map every node onto Secateur's ops, in dependency order (files need not be sorted).
        var available = inputs.Where(i => i.Info is not null).Select(i => i.Info!.Name).Concat(constants.Keys);
        var sorted = TopologicalOrder(nodes, n => n.Inputs, n => n.Outputs, n => n.Name, available);
        var (built, initializers) = OnnxFolder.Fold(sorted, tensors, inputs.Where(i => i.Shaped).Select(i => i.Info!).ToList(),
            gp.Output.Select(o => o.Name), opset, Unsupported, _problems.Add);

        ThrowIfUnsupported();

        var graph = new ModelGraph(gp.Name.Length > 0 ? gp.Name : "model");
        foreach (var (name, data) in initializers) graph.Initializers.Add(name, data);
        foreach (var (info, shaped) in inputs)
        {
            if (!shaped) throw Invalid($"graph input '{info!.Name}' has no shape; Secateur needs at least its rank");
            graph.Inputs.Add(info!);
        }
        graph.Outputs.AddRange(outputs.Select(o => o.Info!));
        foreach (var kv in model.MetadataProps) graph.Metadata[kv.Key] = kv.Value;
        graph.SourceOpset = opset;
        _ = graph.Preprocessing; // a malformed recorded preprocessing fails the load, not a later step

        graph.Nodes.AddRange(TopologicalOrder(built, graph.Inputs.Select(i => i.Name).Concat(graph.Initializers.Keys)));

        GraphValidator.Validate(graph);
        // The GroupNorm exporters write out before opset 18, one GroupNormalization node again.
        if (GroupNormPattern.Fold(graph) > 0) GraphValidator.Validate(graph);
        if (outputs.Any(o => !o.Shaped)) InferOutputShapes(graph, outputs);
        return graph;
    }

    private static bool IsDefaultDomain(string domain) => domain is "" or "ai.onnx";

    private SecateurException Bad(string why) => new(ErrorCode.BadFile, $"'{_source}' {why}");

    private SecateurException Invalid(string why) => new(ErrorCode.InvalidGraph, $"'{_source}': {why}");

    private void Unsupported(string op, string node)
    {
        if (!_unsupportedOps.TryGetValue(op, out var list)) _unsupportedOps.Add(op, list = []);
        list.Add($"'{node}'");
    }

    private void ThrowIfUnsupported()
    {
        if (_unsupportedOps.Count == 0 && _problems.Count == 0) return;
        var parts = new List<string>();
        if (_unsupportedOps.Count > 0)
            // Each op once, with its count and first node: a ConvNeXt's 23 LayerNorms listed node by node made a 3,000-character wall.
            parts.Add("unsupported operators: " + string.Join(", ", _unsupportedOps.Select(kv =>
                kv.Value.Count == 1 ? $"{kv.Key} (node {kv.Value[0]})" : $"{kv.Key} ×{kv.Value.Count} (first: {kv.Value[0]})")));
        parts.AddRange(_problems);
        throw new SecateurException(ErrorCode.UnsupportedOp, $"'{_source}' uses what Secateur does not support: {string.Join("; ", parts)}");
    }

    /// <summary>Node names, inventing <c>op_type_index</c> for unnamed nodes because Secateur addresses nodes by name.</summary>
    private static string[] NodeNames(GraphProto g)
    {
        var taken = g.Node.Where(n => n.Name.Length > 0).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var names = new string[g.Node.Count];
        for (int i = 0; i < names.Length; i++)
        {
            var n = g.Node[i];
            if (n.Name.Length > 0) { names[i] = n.Name; continue; }
            var baseName = $"{(n.OpType.Length > 0 ? n.OpType : "node")}_{i}";
            var candidate = baseName;
            for (int k = 1; !taken.Add(candidate); k++) candidate = $"{baseName}_{k}";
            names[i] = candidate;
        }
        return names;
    }

    private void ReadConstant(NodeProto p, string node, OrderedDictionary<string, TensorProto> constants)
    {
        if (p.Output.Count != 1 || p.Output[0].Length == 0) throw Invalid($"node '{node}' (Constant) must have exactly one output");
        if (p.Attribute.Count != 1) throw Invalid($"node '{node}' (Constant) must have exactly one value attribute, has {p.Attribute.Count}");
        var a = p.Attribute[0];
        TensorProto? t = a.Name switch
        {
            "value" when a.T is not null => a.T.Clone(),
            "value_float" => new TensorProto { DataType = (int)DataType.Float, FloatData = { a.F } },
            "value_floats" => new TensorProto { DataType = (int)DataType.Float, Dims = { a.Floats.Count }, FloatData = { a.Floats } },
            "value_int" => new TensorProto { DataType = (int)DataType.Int64, Int64Data = { a.I } },
            "value_ints" => new TensorProto { DataType = (int)DataType.Int64, Dims = { a.Ints.Count }, Int64Data = { a.Ints } },
            _ => null,
        };
        if (t is null)
        {
            _problems.Add($"node '{node}' (Constant): attribute '{a.Name}' is not supported");
            return;
        }
        t.Name = p.Output[0];
        if (!constants.TryAdd(t.Name, t)) throw Invalid($"'{t.Name}' is defined twice (initializer and Constant node '{node}')");
    }

    private List<KeyValuePair<string, AttributeValue>> ReadAttributes(NodeProto p, string node, AttributeProto? skip = null)
    {
        var list = new List<KeyValuePair<string, AttributeValue>>();
        foreach (var a in p.Attribute)
        {
            if (ReferenceEquals(a, skip)) continue;
            if (a.Name.Length == 0) throw Bad($"has an attribute without a name on node '{node}'");
            var type = a.Type != AttrType.Undefined ? a.Type : GuessType(a);
            AttributeValue? value = type switch
            {
                AttrType.Float => AttributeValue.Of(a.F),
                AttrType.Int => AttributeValue.Of(a.I),
                AttrType.String => AttributeValue.Of(a.S.ToStringUtf8()),
                AttrType.Floats => AttributeValue.Of(a.Floats.ToArray()),
                AttrType.Ints => AttributeValue.Of(a.Ints.ToArray()),
                _ => null,
            };
            if (value is null)
            {
                _problems.Add($"node '{node}' ({p.OpType}): attribute '{a.Name}' has type {type.ToString().ToUpperInvariant()}, which is not supported");
                continue;
            }
            if (list.Any(kv => kv.Key == a.Name)) throw Invalid($"node '{node}' ({p.OpType}) sets attribute '{a.Name}' twice");
            list.Add(KeyValuePair.Create(a.Name, value));
        }
        return list;
    }

    /// <summary>Very old exporters omitted the type discriminator; infer it from the field that is set.</summary>
    private static AttrType GuessType(AttributeProto a) =>
        a.Ints.Count > 0 ? AttrType.Ints
        : a.Floats.Count > 0 ? AttrType.Floats
        : a.HasS ? AttrType.String
        : a.HasF ? AttrType.Float
        : a.HasI ? AttrType.Int
        : a.T is not null ? AttrType.Tensor
        : a.G is not null ? AttrType.Graph
        : AttrType.Undefined;

    /// <summary>
    /// Rewrites an op form of opsets 7–10 into the form Secateur keeps (that of opset 11 on): Pad's <c>pads</c> and
    /// <c>value</c> attributes (before 11) and Slice's <c>starts</c>/<c>ends</c>/<c>axes</c> attributes (before 10)
    /// become constant inputs; BatchNormalization's <c>spatial</c> (before 9) is dropped when 1, the only meaning later
    /// opsets kept, and refused when 0 (statistics per activation rather than per channel).
    /// </summary>
    private void UpgradeLegacyForm(RawNode n, int opset, OrderedDictionary<string, TensorProto> constants)
    {
        AttributeValue? Take(string name)
        {
            int i = n.Attributes.FindIndex(kv => kv.Key == name);
            if (i < 0) return null;
            var v = n.Attributes[i].Value;
            n.Attributes.RemoveAt(i);
            return v;
        }
        string Constant(string suffix, TensorProto t)
        {
            var name = $"{n.Name}.{suffix}";
            for (int k = 1; constants.ContainsKey(name); k++) name = $"{n.Name}.{suffix}_{k}";
            t.Name = name;
            constants.Add(name, t);
            return name;
        }
        static TensorProto Longs(long[] v) => new() { DataType = (int)DataType.Int64, Dims = { v.Length }, Int64Data = { v } };

        switch (n.OpType)
        {
            case "Pad" when n.Inputs.Count == 1:
                {
                    var pads = Take("pads") ?? Take("paddings");
                    float fill = Take("value") is { } v ? v.Float : 0f;
                    if (pads is null)
                    {
                        _problems.Add($"node '{n.Name}' (Pad, opset {opset}) has no pads attribute");
                        return;
                    }
                    n.Inputs.Add(Constant("pads", Longs([.. pads.Ints])));
                    // Zero is the constant_value default: only a real fill needs the third input.
                    if (fill != 0) n.Inputs.Add(Constant("value", new TensorProto { DataType = (int)DataType.Float, FloatData = { fill } }));
                    break;
                }
            case "Slice" when opset < 10 && n.Inputs.Count == 1:
                {
                    var starts = Take("starts");
                    var ends = Take("ends");
                    var axes = Take("axes");
                    if (starts is null || ends is null)
                    {
                        _problems.Add($"node '{n.Name}' (Slice, opset {opset}) lacks its starts or ends attribute");
                        return;
                    }
                    n.Inputs.Add(Constant("starts", Longs([.. starts.Ints])));
                    n.Inputs.Add(Constant("ends", Longs([.. ends.Ints])));
                    if (axes is not null) n.Inputs.Add(Constant("axes", Longs([.. axes.Ints])));
                    break;
                }
            case "BatchNormalization" when opset < 9:
                if (Take("spatial") is { } spatial && spatial.Int != 1)
                    _problems.Add($"node '{n.Name}' (BatchNormalization, opset {opset}): spatial={spatial.Int} (statistics per activation, not per channel) is not supported");
                break;
        }
    }

    /// <summary>
    /// Undoes the exporter's opset-12 Dropout form: a constant float scalar ratio input becomes the ratio attribute
    /// Secateur keeps, and a constant-false training_mode input is dropped (false is the default).
    /// </summary>
    private void RestoreDropout(RawNode n, List<RawNode> nodes, OrderedDictionary<string, TensorProto> constants, HashSet<string> outputs)
    {
        void DropIfUnused(string value)
        {
            if (!outputs.Contains(value) && !nodes.Any(m => m.Inputs.Contains(value))) constants.Remove(value);
        }

        if (n.Inputs.Count > 1 && n.Inputs[1].Length > 0 && !n.Attributes.Any(a => a.Key == "ratio")
            && constants.TryGetValue(n.Inputs[1], out var r) && FloatScalar(r, n.Inputs[1]) is { } ratio)
        {
            var name = n.Inputs[1];
            n.Inputs[1] = "";
            n.Attributes.Add(KeyValuePair.Create("ratio", AttributeValue.Of(ratio)));
            DropIfUnused(name);
        }
        if (n.Inputs.Count > 2 && n.Inputs[2].Length > 0 && constants.TryGetValue(n.Inputs[2], out var m))
        {
            switch (BoolScalar(m))
            {
                case false:
                    var name = n.Inputs[2];
                    n.Inputs[2] = "";
                    DropIfUnused(name);
                    break;
                case true:
                    _problems.Add($"node '{n.Name}' (Dropout) runs in training mode (training_mode is true)");
                    break;
            }
        }
        // Trailing omitted optional inputs carry no meaning; trimming them gives the form Secateur builds.
        while (n.Inputs.Count > 1 && n.Inputs[^1].Length == 0) n.Inputs.RemoveAt(n.Inputs.Count - 1);
    }

    private float? FloatScalar(TensorProto t, string name)
    {
        if (t.DataType is not ((int)DataType.Float or (int)DataType.Double) || t.Dims.Any(d => d != 1)
            || t.DataLocation == TensorProto.Types.DataLocation.External || t.Segment is not null) return null;
        var data = ReadTensor(t, name);
        return data is { Type: ElementType.Float, Count: 1 } ? data.Floats[0] : null;
    }

    private static bool? BoolScalar(TensorProto t)
    {
        if (t.DataType != (int)DataType.Bool || t.Dims.Any(d => d != 1) || t.DataLocation == TensorProto.Types.DataLocation.External) return null;
        if (t.HasRawData) return t.RawData.Length == 1 ? t.RawData[0] != 0 : null;
        return t.Int32Data.Count == 1 ? t.Int32Data[0] != 0 : null;
    }

    /// <summary>A tensor as FLOAT or INT64 data, or null (with a problem recorded) when its type is not supported.</summary>
    private TensorData? ReadTensor(TensorProto t, string name)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External) t = WithExternalData(t, name);
        if (t.Segment is not null)
        {
            _problems.Add($"tensor '{name}' is segmented, which Secateur does not read");
            return null;
        }
        var shape = t.Dims.ToArray();
        if (shape.Any(d => d < 0)) throw Bad($"has tensor '{name}' with a negative dimension ({TensorData.FormatShape(shape)})");
        long count;
        try
        {
            count = shape.Aggregate(1L, (a, d) => checked(a * d));
        }
        catch (OverflowException)
        {
            throw Bad($"has tensor '{name}' with an impossible shape {TensorData.FormatShape(shape)}");
        }
        if (count > Array.MaxLength) throw Bad($"has tensor '{name}' with {count} elements, more than an array can hold");
        int n = (int)count;
        var type = (DataType)t.DataType;
        switch (type)
        {
            case DataType.Float:
                {
                    float[] data = t.HasRawData ? FromRaw<float>(t, name, n, BinaryPrimitives.ReadSingleLittleEndian) : Typed(t.FloatData, name, n);
                    return TensorData.FromFloats(data, shape);
                }
            case DataType.Int64:
                {
                    long[] data = t.HasRawData ? FromRaw<long>(t, name, n, BinaryPrimitives.ReadInt64LittleEndian) : Typed(t.Int64Data, name, n);
                    return TensorData.FromLongs(data, shape);
                }
            case DataType.Double:
                {
                    var wide = t.HasRawData ? FromRaw<double>(t, name, n, BinaryPrimitives.ReadDoubleLittleEndian) : Typed(t.DoubleData, name, n);
                    return TensorData.FromFloats(Array.ConvertAll(wide, x => (float)x), shape);
                }
            case DataType.Int32:
                {
                    var narrow = t.HasRawData ? FromRaw<int>(t, name, n, BinaryPrimitives.ReadInt32LittleEndian) : Typed(t.Int32Data, name, n);
                    return TensorData.FromLongs(Array.ConvertAll(narrow, x => (long)x), shape);
                }
            default:
                _problems.Add($"tensor '{name}' has element type {type.ToString().ToUpperInvariant()}; Secateur reads FLOAT, INT64, DOUBLE and INT32");
                return null;
        }
    }

    /// <summary>
    /// A copy of <paramref name="t"/> with its external data (location, offset, length relative to the model file's
    /// directory, as onnx.save_model writes it) read into raw_data.
    /// </summary>
    private TensorProto WithExternalData(TensorProto t, string name)
    {
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || location.Length == 0)
            throw Bad($"has tensor '{name}' with external data but no location");
        if (_directory is null)
            throw Bad($"has tensor '{name}' with external data ('{location}'), which can only be read when the model is loaded from a file");
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw Bad($"has tensor '{name}' whose external data location '{location}' is outside the model's directory");
        long Number(string key, long fallback)
        {
            if (!entries.TryGetValue(key, out var text)) return fallback;
            return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
                ? v : throw Bad($"has tensor '{name}' with external data {key} '{text}', not a number");
        }
        var path = Path.Combine(_directory, location);
        if (!File.Exists(path)) throw Bad($"has tensor '{name}' whose external data file '{path}' does not exist");
        long offset = Number("offset", 0);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = Number("length", stream.Length - offset);
            if (offset > stream.Length || length < 0 || offset + length > stream.Length)
                throw Bad($"has tensor '{name}' whose external data needs bytes {offset} to {offset + length} of '{path}', which holds {stream.Length}");
            if (length > Array.MaxLength) throw Bad($"has tensor '{name}' with {length} bytes of external data, more than an array can hold");
            var bytes = new byte[length];
            stream.Position = offset;
            stream.ReadExactly(bytes);
            var copy = t.Clone();
            copy.ExternalData.Clear();
            copy.DataLocation = TensorProto.Types.DataLocation.Default;
            copy.RawData = Google.Protobuf.ByteString.CopyFrom(bytes);
            return copy;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{_source}': cannot read external data of tensor '{name}' from '{path}': {e.Message}", e);
        }
    }

    private delegate T LittleEndianReader<T>(ReadOnlySpan<byte> source);

    private T[] FromRaw<T>(TensorProto t, string name, int count, LittleEndianReader<T> read) where T : unmanaged
    {
        var raw = t.RawData.Span;
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (raw.Length != (long)count * size)
            throw Bad($"has tensor '{name}' whose raw_data holds {raw.Length} bytes, but its shape needs {(long)count * size}");
        // raw_data is little-endian; on a little-endian host it is already the in-memory layout.
        if (BitConverter.IsLittleEndian) return MemoryMarshal.Cast<byte, T>(raw).ToArray();
        var result = new T[count];
        for (int i = 0; i < count; i++) result[i] = read(raw.Slice(i * size, size));
        return result;
    }

    private T[] Typed<T>(IReadOnlyCollection<T> values, string name, int count)
    {
        if (values.Count != count) throw Bad($"has tensor '{name}' with {values.Count} values, but its shape needs {count}");
        return values.ToArray();
    }

    private (ValueInfo? Info, bool Shaped) ReadValueInfo(ValueInfoProto v, string role)
    {
        if (v.Name.Length == 0) throw Bad($"has a {role} without a name");
        if (v.Type is null || v.Type.ValueCase != TypeProto.ValueOneofCase.TensorType)
        {
            _problems.Add($"{role} '{v.Name}' is not a tensor");
            return (null, false);
        }
        var tensor = v.Type.TensorType;
        var elem = (DataType)tensor.ElemType;
        ElementType type;
        switch (elem)
        {
            case DataType.Float: type = ElementType.Float; break;
            case DataType.Int64: type = ElementType.Int64; break;
            default:
                _problems.Add($"{role} '{v.Name}' has element type {elem.ToString().ToUpperInvariant()}; Secateur supports FLOAT and INT64");
                return (null, false);
        }
        if (tensor.Shape is null) return (new ValueInfo(v.Name, type, []), false);
        var dims = tensor.Shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when d.DimValue >= 0 => new Dim(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => Dim.Symbolic(d.DimParam),
            _ => new Dim(-1),
        }).ToList();
        return (new ValueInfo(v.Name, type, dims), true);
    }

    /// <summary>
    /// Fills in the shapes of outputs the file left untyped. Inferring at two batch sizes tells fixed dimensions
    /// from ones that follow the batch; the latter are recorded as unknown.
    /// </summary>
    private void InferOutputShapes(ModelGraph graph, List<(ValueInfo? Info, bool Shaped)> outputs)
    {
        var one = ShapeInference.Infer(graph, 1);
        var two = ShapeInference.Infer(graph, 2);
        for (int i = 0; i < outputs.Count; i++)
        {
            if (outputs[i].Shaped) continue;
            var name = outputs[i].Info!.Name;
            if (!one.TryGetValue(name, out var a) || !two.TryGetValue(name, out var b) || a.Length != b.Length)
                throw Invalid($"graph output '{name}' has no shape, and Secateur cannot infer one");
            graph.Outputs[i] = graph.Outputs[i] with { Dims = a.Select((d, k) => d == b[k] ? new Dim(d) : new Dim(-1)).ToList() };
        }
    }

    /// <summary>
    /// Orders nodes so each comes after the producers of its inputs, keeping file order wherever it is already
    /// valid (a stable sort: a topologically ordered file keeps its order exactly).
    /// </summary>
    internal static List<Node> TopologicalOrder(IReadOnlyList<Node> nodes, IEnumerable<string> available) =>
        TopologicalOrder(nodes, n => n.Inputs, n => n.Outputs, n => n.Name, available);

    private static List<T> TopologicalOrder<T>(IReadOnlyList<T> nodes, Func<T, IEnumerable<string>> inputsOf,
        Func<T, IEnumerable<string>> outputsOf, Func<T, string> nameOf, IEnumerable<string> available)
    {
        var defined = available.ToHashSet(StringComparer.Ordinal);
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var o in outputsOf(nodes[i]).Where(o => o.Length > 0 && !defined.Contains(o)))
                producer.TryAdd(o, i);
        var waiting = new int[nodes.Count];
        var dependents = new List<int>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++) dependents[i] = [];
        for (int i = 0; i < nodes.Count; i++)
            // Values nobody produces (dangling reads) do not block: the validator reports them by name.
            foreach (var p in inputsOf(nodes[i]).Where(producer.ContainsKey).Select(v => producer[v]).Distinct())
            {
                waiting[i]++;
                dependents[p].Add(i);
            }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < nodes.Count; i++)
            if (waiting[i] == 0) ready.Enqueue(i, i);
        var order = new List<T>(nodes.Count);
        while (ready.TryDequeue(out var i, out _))
        {
            order.Add(nodes[i]);
            foreach (var d in dependents[i])
                if (--waiting[d] == 0) ready.Enqueue(d, d);
        }
        if (order.Count < nodes.Count)
        {
            var stuck = Enumerable.Range(0, nodes.Count).Where(i => waiting[i] > 0).Select(i => $"'{nameOf(nodes[i])}'").ToList();
            throw new SecateurException(ErrorCode.InvalidGraph,
                $"the graph has a cycle; these nodes depend on each other: {string.Join(", ", stuck.Take(10))}{(stuck.Count > 10 ? ", …" : "")}");
        }
        return order;
    }
}
