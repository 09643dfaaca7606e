using System.Buffers.Binary;
using Google.Protobuf;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;

namespace Secateur.Quantization;

/// <summary>
/// Turns the ONNX export of a prepared float graph into a QDQ model: each quantized activation goes through
/// QuantizeLinear (uint8, per tensor) → DequantizeLinear; each Conv/Gemm weight is stored as an int8 initializer
/// (symmetric, per output channel, zero point 0) read through a DequantizeLinear with <c>axis</c>; each bias as an
/// int32 initializer with scale input scale × weight scale. Secateur's <see cref="ModelGraph"/> has no QDQ ops: the
/// rewrite works on the ModelProto that <see cref="OnnxExporter"/> produces.
/// </summary>
internal static class QdqWriter
{
    private const int Float = 1, Uint8 = 2, Int8 = 3, Int32 = 6;

    /// <summary>QuantizeLinear/DequantizeLinear with per-axis scales and int32 inputs need opset 13; Secateur writes 17.</summary>
    public const int Opset = 17;

    public static ModelProto Write(ModelGraph graph, IReadOnlySet<string> quantizedNodes, IReadOnlyDictionary<string, (float Scale, byte ZeroPoint)> activations, int weightMax)
    {
        var model = OnnxExporter.Export(graph, new OnnxSaveOptions { Opset = Opset });
        var g = model.Graph;
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in g.Initializer) taken.Add(i.Name);
        foreach (var i in g.Input) taken.Add(i.Name);
        foreach (var n in g.Node) { taken.UnionWith(n.Output); taken.Add(n.Name); }
        string Unique(string name)
        {
            var c = name;
            for (int k = 1; !taken.Add(c); k++) c = $"{name}_{k}";
            return c;
        }
        var initializers = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);
        var weightNodes = new List<NodeProto>();
        var nodes = new List<NodeProto>();

        void QuantizeActivation(string name)
        {
            var (scale, zp) = activations[name];
            string s = Unique($"{name}_scale"), z = Unique($"{name}_zero_point"), q = Unique($"{name}_quantized"), dq = Unique($"{name}_dequantized");
            g.Initializer.Add(Scalar(s, Float, FloatBytes([scale])));
            g.Initializer.Add(Scalar(z, Uint8, [zp]));
            nodes.Add(Node("QuantizeLinear", Unique($"{name}_QuantizeLinear"), [name, s, z], q));
            nodes.Add(Node("DequantizeLinear", Unique($"{name}_DequantizeLinear"), [q, s, z], dq));
            dequantized[name] = dq;
        }

        foreach (var input in g.Input.Where(i => activations.ContainsKey(i.Name))) QuantizeActivation(input.Name);
        foreach (var node in g.Node)
        {
            if (quantizedNodes.Contains(node.Name) && node.OpType is "Conv" or "Gemm")
                QuantizeWeights(node);
            for (int i = 0; i < node.Input.Count; i++)
                if (dequantized.TryGetValue(node.Input[i], out var dq)) node.Input[i] = dq;
            nodes.Add(node);
            foreach (var o in node.Output.Where(activations.ContainsKey)) QuantizeActivation(o);
        }

        void QuantizeWeights(NodeProto node)
        {
            // Conv W is (Cout, Cin/group, kh, kw); Gemm B is (N, K) with transB = 1, else (K, N): channels on axis 0 or 1.
            int axis = node.OpType == "Gemm" && !node.Attribute.Any(a => a.Name == "transB" && a.I == 1) ? 1 : 0;
            var w = Floats(initializers[node.Input[1]]);
            long[] shape = [.. initializers[node.Input[1]].Dims];
            long channels = shape[axis], inner = 1;
            for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
            var scales = new float[channels];
            for (long i = 0; i < w.Length; i++)
            {
                long c = i / inner % channels;
                scales[c] = Math.Max(scales[c], Math.Abs(w[i]));
            }
            // Symmetric: [−weightMax, weightMax] (never −128), so that the range is the same on both sides of 0.
            for (long c = 0; c < channels; c++) scales[c] = scales[c] > 0 ? scales[c] / weightMax : 1f;
            var q = new byte[w.Length];
            for (long i = 0; i < w.Length; i++)
                q[i] = unchecked((byte)(sbyte)Math.Clamp(Math.Round(w[i] / scales[i / inner % channels], MidpointRounding.ToEven), -weightMax, weightMax));
            string wq = Unique($"{node.Input[1]}_quantized"), ws = Unique($"{node.Input[1]}_scale"), wz = Unique($"{node.Input[1]}_zero_point"), wdq = Unique($"{node.Input[1]}_dequantized");
            g.Initializer.Add(Tensor(wq, Int8, shape, q));
            g.Initializer.Add(Tensor(ws, Float, [channels], FloatBytes(scales)));
            g.Initializer.Add(Tensor(wz, Int8, [channels], new byte[channels]));
            weightNodes.Add(Node("DequantizeLinear", Unique($"{node.Name}_weight_DequantizeLinear"), [wq, ws, wz], wdq, axis));
            node.Input[1] = wdq;
            if (node.Input.Count < 3 || node.Input[2].Length == 0) return;

            // Bias as int32 at scale s_x · s_w[c], zero point 0: the form QLinearConv and QGemm take.
            float inputScale = activations[node.Input[0]].Scale;
            var b = Floats(initializers[node.Input[2]]);
            var bq = new byte[4 * b.Length];
            var bs = new float[b.Length];
            for (int c = 0; c < b.Length; c++)
            {
                bs[c] = inputScale * scales[c];
                BinaryPrimitives.WriteInt32LittleEndian(bq.AsSpan(4 * c), (int)Math.Clamp(Math.Round(b[c] / bs[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue));
            }
            string bqName = Unique($"{node.Name}.bias_quantized"), bsName = Unique($"{node.Name}.bias_scale"), bzName = Unique($"{node.Name}.bias_zero_point"), bdq = Unique($"{node.Name}.bias_dequantized");
            g.Initializer.Add(Tensor(bqName, Int32, [b.Length], bq));
            g.Initializer.Add(Tensor(bsName, Float, [b.Length], FloatBytes(bs)));
            g.Initializer.Add(Tensor(bzName, Int32, [b.Length], new byte[4 * b.Length]));
            weightNodes.Add(Node("DequantizeLinear", Unique($"{node.Name}_bias_DequantizeLinear"), [bqName, bsName, bzName], bdq, 0));
            node.Input[2] = bdq;
        }

        g.Node.Clear();
        g.Node.AddRange(weightNodes);
        g.Node.AddRange(nodes);
        // The float weights and biases now unread are dropped: that is where the file gets 4× smaller.
        var used = g.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var keep = g.Initializer.Where(t => used.Contains(t.Name)).ToList();
        g.Initializer.Clear();
        g.Initializer.AddRange(keep);
        return model;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output, int? axis = null)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        if (axis is { } a) n.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = a });
        return n;
    }

    private static TensorProto Scalar(string name, int type, byte[] bytes) => new() { Name = name, DataType = type, RawData = ByteString.CopyFrom(bytes) };

    private static TensorProto Tensor(string name, int type, long[] shape, byte[] bytes)
    {
        var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(shape);
        return t;
    }

    private static byte[] FloatBytes(float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    /// <summary>The float values of an initializer the exporter wrote (always raw little-endian data).</summary>
    private static float[] Floats(TensorProto t)
    {
        if (t.DataType != Float) throw new SecateurException(ErrorCode.UnsupportedOp, $"initializer '{t.Name}' is not float; only float weights are quantized");
        var raw = t.RawData.Span;
        var values = new float[raw.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
        return values;
    }
}
