using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Secateur.Graph;
using Secateur.Graph.Ops;
using Secateur.Onnx.Proto;

namespace Secateur.Onnx;

/// <summary>Builds the ModelProto for a <see cref="ModelGraph"/>; see <see cref="OnnxSerializer"/> for the conversions.</summary>
internal static class OnnxExporter
{
    /// <summary>
    /// The IR version written with <paramref name="opset"/>: the one of the ONNX release that introduced the opset
    /// (8 up to opset 18, 9 for 19–20, 10 for 21–22, 11 for 23, 12 for 24, 13 for 25–26), so that checkers of that release
    /// accept the file.
    /// </summary>
    internal static long IrVersion(int opset) => opset switch { <= 18 => 8, <= 20 => 9, <= 22 => 10, 23 => 11, 24 => 12, _ => 13 };

    public static ModelProto Export(ModelGraph graph, OnnxSaveOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Opset is < OnnxSaveOptions.MinOpset or > OnnxSaveOptions.MaxOpset)
            throw new SecateurException(ErrorCode.BadArgument,
                $"opset {options.Opset} is not supported for saving; use {OnnxSaveOptions.MinOpset} to {OnnxSaveOptions.MaxOpset}", nameof(OnnxSaveOptions.Opset));
        ArgumentNullException.ThrowIfNull(options.ProducerName);
        ArgumentNullException.ThrowIfNull(options.ProducerVersion);
        // Never write a file that Load would reject.
        GraphValidator.Validate(graph);
        int opset = options.Opset ?? ChooseOpset(graph);
        graph = Lower(graph, opset);

        long bytes = graph.Initializers.Values.Sum(t => t.ByteSize);
        if (bytes >= int.MaxValue)
            throw new SecateurException(ErrorCode.BadArgument,
                $"the weights take {bytes} bytes; a single ONNX file holds less than 2 GiB and Secateur does not write external data");

        var g = new GraphProto { Name = graph.Name.Length > 0 ? graph.Name : "model" };
        var extra = new List<TensorProto>();
        var taken = AllValueNames(graph);
        foreach (var node in graph.Nodes) g.Node.Add(ToProto(node, opset, taken, extra));
        foreach (var kv in graph.Initializers) g.Initializer.Add(ToProto(kv.Key, kv.Value));
        g.Initializer.AddRange(extra);
        foreach (var i in graph.Inputs) g.Input.Add(ToProto(i));
        foreach (var o in graph.Outputs) g.Output.Add(ToProto(o));

        var model = new ModelProto
        {
            IrVersion = IrVersion(opset),
            ProducerName = options.ProducerName,
            ProducerVersion = options.ProducerVersion,
            Graph = g,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        // Metadata is a SortedDictionary, so its order (and thus the bytes) is canonical.
        foreach (var kv in graph.Metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = kv.Key, Value = kv.Value });
        return model;
    }

    /// <summary>
    /// The lowest opset from <see cref="OnnxSaveOptions.DefaultOpset"/> up that writes every op as it is (the highest when
    /// none does), or the opset of the file the graph came from when that is newer and writable: a file of opset 23 stays 23.
    /// </summary>
    internal static int ChooseOpset(ModelGraph graph)
    {
        int chosen = OnnxSaveOptions.MaxOpset;
        for (int opset = OnnxSaveOptions.DefaultOpset; opset < OnnxSaveOptions.MaxOpset; opset++)
            if (!graph.Nodes.Any(n => OpRegistry.For(n).OpsetProblems(n, graph, opset).Any()))
            {
                chosen = opset;
                break;
            }
        return graph.SourceOpset is int source && source > chosen && source <= OnnxSaveOptions.MaxOpset ? source : chosen;
    }

    /// <summary>
    /// <paramref name="graph"/> with every op that <paramref name="opset"/> cannot write as it is replaced by the
    /// equivalent nodes its definition gives (<see cref="OpDefinition.Lower"/>); the graph itself when none needs it.
    /// Ops with no such form are the error, all named at once.
    /// </summary>
    private static ModelGraph Lower(ModelGraph graph, int opset)
    {
        var problems = graph.Nodes.Select(n => (Node: n, Why: OpRegistry.For(n).OpsetProblems(n, graph, opset).ToList())).Where(p => p.Why.Count > 0).ToList();
        if (problems.Count == 0) return graph;
        var lowered = graph.Clone();
        var shapes = ShapeInference.Infer(graph);
        var stuck = new List<string>();
        foreach (var (node, why) in problems)
        {
            var replacement = OpRegistry.For(node).Lower(node, lowered, shapes, opset);
            if (replacement is null || replacement.Any(r => OpRegistry.For(r).OpsetProblems(r, lowered, opset).Any()))
            {
                stuck.AddRange(why);
                continue;
            }
            int at = lowered.Nodes.FindIndex(n => n.Name == node.Name);
            lowered.Nodes.RemoveAt(at);
            lowered.Nodes.InsertRange(at, replacement);
        }
        if (stuck.Count > 0)
            throw new SecateurException(ErrorCode.UnsupportedOp, $"cannot save in opset {opset}: {string.Join("; ", stuck)}", nameof(OnnxSaveOptions.Opset));
        // Initializers only the replaced nodes read go with them.
        var read = lowered.Nodes.SelectMany(n => n.Inputs).ToHashSet(StringComparer.Ordinal);
        foreach (var name in lowered.Initializers.Keys.Where(k => !read.Contains(k) && problems.Any(p => p.Node.Inputs.Contains(k))).ToList())
            lowered.Initializers.Remove(name);
        GraphValidator.Validate(lowered);
        return lowered;
    }

    private static HashSet<string> AllValueNames(ModelGraph graph)
    {
        var names = new HashSet<string>(graph.Initializers.Keys, StringComparer.Ordinal);
        names.UnionWith(graph.Inputs.Select(i => i.Name));
        foreach (var n in graph.Nodes)
        {
            names.UnionWith(n.Inputs);
            names.UnionWith(n.Outputs);
        }
        return names;
    }

    /// <summary>The opset from which Resize's roi and scales may be omitted (given as "").</summary>
    private const int ResizeOmittedOperandsOpset = 13;

    private static NodeProto ToProto(Node node, int opset, HashSet<string> taken, List<TensorProto> extra)
    {
        var p = new NodeProto { Name = node.Name, OpType = node.Op.OnnxName() };
        var inputs = node.Inputs.ToList();
        var attributes = node.Attributes.AsEnumerable();
        if (node.Op == OpKind.Dropout && opset >= DropoutOp.RatioInputOpset && node.Attributes.TryGetValue("ratio", out var ratio))
        {
            var name = Unique($"{node.Name}.ratio", taken);
            extra.Add(ToProto(name, TensorData.FromFloats([ratio.Float])));
            if (inputs.Count < 2) inputs.Add(name);
            else inputs[1] = name;
            attributes = attributes.Where(a => a.Key != "ratio");
        }
        if (node.Op == OpKind.Resize && opset < ResizeOmittedOperandsOpset)
        {
            // Before opset 13 roi and scales are required inputs; an empty tensor says "not used".
            while (inputs.Count < 3) inputs.Add("");
            for (int i = 1; i <= 2; i++)
                if (inputs[i].Length == 0)
                {
                    var name = Unique($"{node.Name}.{(i == 1 ? "roi" : "scales")}", taken);
                    extra.Add(ToProto(name, TensorData.FromFloats([], 0)));
                    inputs[i] = name;
                }
        }
        if (node.Op == OpKind.ReduceMean && opset >= ReduceMeanOp.AxesInputOpset && node.Ints("axes") is { } axes)
        {
            var name = Unique($"{node.Name}.axes", taken);
            extra.Add(ToProto(name, TensorData.FromLongs(axes.ToArray(), axes.Count)));
            inputs.Add(name);
            attributes = attributes.Where(a => a.Key != "axes");
        }
        p.Input.AddRange(inputs);
        p.Output.AddRange(node.Outputs);
        // Node.Attributes is ordinal-sorted, so attribute order is canonical.
        foreach (var (key, value) in attributes) p.Attribute.Add(ToProto(key, value));
        return p;
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (int k = 1; !taken.Add(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    private static AttributeProto ToProto(string name, AttributeValue value)
    {
        var a = new AttributeProto { Name = name };
        switch (value.Kind)
        {
            case AttributeKind.Float: a.Type = AttributeProto.Types.AttributeType.Float; a.F = value.Float; break;
            case AttributeKind.Int: a.Type = AttributeProto.Types.AttributeType.Int; a.I = value.Int; break;
            case AttributeKind.String: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(value.String); break;
            case AttributeKind.Floats: a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(value.Floats); break;
            case AttributeKind.Ints: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(value.Ints); break;
            default: throw new ArgumentOutOfRangeException(nameof(value), value.Kind, "unknown attribute kind");
        }
        return a;
    }

    internal static TensorProto ToProto(string name, TensorData t)
    {
        var p = new TensorProto { Name = name, DataType = (int)t.Type, RawData = RawBytes(t) };
        p.Dims.AddRange(t.Shape);
        return p;
    }

    /// <summary>Elements as little-endian bytes, as raw_data requires whatever the host's byte order.</summary>
    private static ByteString RawBytes(TensorData t)
    {
        if (BitConverter.IsLittleEndian)
            return t.Type == ElementType.Float
                ? ByteString.CopyFrom(MemoryMarshal.AsBytes(t.Floats.AsSpan()))
                : ByteString.CopyFrom(MemoryMarshal.AsBytes(t.Longs.AsSpan()));
        var bytes = new byte[t.ByteSize];
        if (t.Type == ElementType.Float)
            for (int i = 0; i < t.Floats.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), t.Floats[i]);
        else
            for (int i = 0; i < t.Longs.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), t.Longs[i]);
        return ByteString.CopyFrom(bytes);
    }

    private static ValueInfoProto ToProto(ValueInfo v)
    {
        var shape = new TensorShapeProto();
        foreach (var d in v.Dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (d.Param is not null) dim.DimParam = d.Param;
            else if (d.Value >= 0) dim.DimValue = d.Value;
            // Else neither is set: ONNX's "unknown dimension", which loads back as Dim(-1).
            shape.Dim.Add(dim);
        }
        return new ValueInfoProto
        {
            Name = v.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)v.Type, Shape = shape } },
        };
    }
}
