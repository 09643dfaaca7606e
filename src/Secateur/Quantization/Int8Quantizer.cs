using Google.Protobuf;
using Secateur.Data;
using Secateur.Graph;

namespace Secateur.Quantization;

/// <summary>An int8 QDQ model produced by <see cref="Int8Quantizer"/>.</summary>
/// <param name="Onnx">The ONNX bytes (opset 17, QuantizeLinear/DequantizeLinear around every quantized tensor).</param>
/// <param name="Ranges">Calibrated range of every quantized activation, by value name in the float graph.</param>
/// <param name="QuantizedNodes">Names of the Conv, Gemm, Add and GlobalAveragePool nodes whose inputs (and weights) are quantized.</param>
/// <param name="CalibrationImages">Images the ranges were calibrated on.</param>
public sealed record QuantizedModel(byte[] Onnx, IReadOnlyDictionary<string, ActivationRange> Ranges, IReadOnlyList<string> QuantizedNodes, int CalibrationImages)
{
    /// <summary>Writes <see cref="Onnx"/> to <paramref name="path"/> through a temporary file, so a crash never leaves a partial model.</summary>
    /// <exception cref="SecateurException">BadFile when the file cannot be written.</exception>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(temp, Onnx);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception inner) when (inner is IOException or UnauthorizedAccessException) { /* the first error is the one to report */ }
            throw new SecateurException(ErrorCode.BadFile, $"cannot write '{path}': {e.Message}", e);
        }
    }
}

/// <summary>
/// Int8 post-training quantization of any <see cref="ModelGraph"/> (zoo, imported, pruned) into an ONNX QDQ model that
/// ONNX Runtime runs with integer kernels (QLinearConv, QGemm, QLinearAdd, QLinearGlobalAveragePool).
/// </summary>
/// <remarks>
/// Format: ONNX Runtime's recommended "QDQ, U8S8" — activations per-tensor asymmetric uint8, weights per-output-channel
/// symmetric int8 (zero point 0), biases int32 at scale input scale × weight scale, all read through DequantizeLinear,
/// so the file is a plain ONNX model that ORT fuses into integer kernels when it optimises the graph.
/// Quantized: every Conv and Gemm (linear layer) with constant weights, and every Add of two activations; their inputs
/// and outputs (a graph output stays float); and every GlobalAveragePool (ORT's QLinearGlobalAveragePool). Batch norms
/// after a Conv are folded first; a ReLU or a ReLU6 (Clip with min 0) right after a quantized node is dropped, the
/// QuantizeLinear after it (zero point 0, its range ending at or below the Clip's max) doing the clipping, so that no
/// float island (DequantizeLinear → Clip → QuantizeLinear) is left between two integer kernels. MaxPool, Flatten, Reshape and
/// Identity outputs reuse their input's quantization, so ORT runs them on uint8 too. Other ops run in float between a
/// DequantizeLinear and a QuantizeLinear. Input and output names and the dynamic batch are kept.
/// </remarks>
public static class Int8Quantizer
{
    /// <summary>Calibrates <paramref name="graph"/> on <paramref name="calibration"/> and writes the int8 QDQ model.</summary>
    /// <param name="graph">The float model (it is not modified).</param>
    /// <param name="calibration">Calibration batches, normalised as the model expects; at most <see cref="QuantizationOptions.CalibrationImages"/> images are used.</param>
    /// <param name="options">Calibration method and size.</param>
    /// <param name="progress">Called with the number of calibration images done.</param>
    /// <exception cref="SecateurException">BadArgument for bad options, empty calibration data or a model with other than one input;
    /// UnsupportedOp when the model has nothing to quantize.</exception>
    public static QuantizedModel Quantize(ModelGraph graph, IEnumerable<Batch> calibration, QuantizationOptions? options = null, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(calibration);
        options = (options ?? new QuantizationOptions()).Validated();
        if (graph.Inputs.Count != 1) throw new SecateurException(ErrorCode.BadArgument, $"'{graph.Name}' has {graph.Inputs.Count} inputs; only one-input models are quantized");

        var prepared = GraphPreparation.FoldBatchNorms(graph);
        var clamps = GraphPreparation.FusibleActivations(prepared);
        var quantized = prepared.Nodes.Where(n => GraphPreparation.IsQuantizable(prepared, n)).ToList();
        if (!quantized.Any(n => n.Op is OpKind.Conv or OpKind.Gemm))
            throw new SecateurException(ErrorCode.UnsupportedOp, $"'{graph.Name}' has no Conv or Gemm with constant weights: nothing to quantize");
        var graphOutputs = prepared.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        string Effective(string value) => clamps.TryGetValue(value, out var clamp) ? clamp.Node.Output : value;

        // The activations to quantize, in first-seen order; `shares` maps a pass-through op's output to its input.
        var tensors = new List<string>();
        var set = new HashSet<string>(StringComparer.Ordinal);
        void Add(string v) { if (set.Add(v)) tensors.Add(v); }
        foreach (var n in quantized)
        {
            foreach (var v in n.Op == OpKind.Add ? n.Inputs : [n.Inputs[0]]) Add(v);
            var o = Effective(n.Output);
            if (!graphOutputs.Contains(o)) Add(o);
        }
        var shares = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < tensors.Count; i++)
        {
            var p = prepared.Producer(tensors[i]);
            if (p is null || !GraphPreparation.IsPassThrough(p) || prepared.IsInitializer(p.Inputs[0])) continue;
            shares[tensors[i]] = p.Inputs[0];
            Add(p.Inputs[0]);
        }
        string Root(string v) { while (shares.TryGetValue(v, out var s)) v = s; return v; }

        var roots = tensors.Where(t => !shares.ContainsKey(t)).ToList();
        var batches = Limit(calibration, options.CalibrationImages);
        var ranges = Calibrator.Calibrate(prepared, batches, roots, options.Method, options.EffectivePercentile, progress);
        // A dropped Clip's max bounds its output's range, so that the QuantizeLinear that replaces it saturates no later
        // than the Clip did, even when calibration saw no positive value (an all-zero range gets some positive scale).
        foreach (var (clamp, bound) in clamps.Values)
            if (float.IsFinite(bound) && ranges.TryGetValue(clamp.Output, out var r) && !(r.Max > 0 && r.Max <= bound))
                ranges[clamp.Output] = r with { Max = bound };
        var all = tensors.ToDictionary(t => t, t => ranges[Root(t)], StringComparer.Ordinal);
        var parameters = tensors.ToDictionary(t => t, t => all[t].Uint8(), StringComparer.Ordinal);

        // The exported graph: fused clamps removed, their producer writing the clamp's output.
        var export = prepared.Clone();
        var dropped = clamps.Values.Select(c => c.Node.Name).ToHashSet(StringComparer.Ordinal);
        export.Nodes.Clear();
        foreach (var n in prepared.Nodes)
        {
            if (dropped.Contains(n.Name)) continue;
            export.Nodes.Add(clamps.TryGetValue(n.Output, out var clamp) ? n.With(outputs: [clamp.Node.Output]) : n);
        }
        var model = QdqWriter.Write(export, quantized.Select(n => n.Name).ToHashSet(StringComparer.Ordinal), parameters, options.ReduceRange ? 63 : 127);
        return new QuantizedModel(model.ToByteArray(), all, quantized.Select(n => n.Name).ToList(), CountImages(batches));
    }

    /// <summary>The first <see cref="QuantizationOptions.CalibrationImages"/> images of the training split, preprocessed as the data set feeds the model, in file order: the default calibration set.</summary>
    public static IEnumerable<Batch> CalibrationBatches(DataSet data, QuantizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        var train = data.Train.Take(Math.Min(options.CalibrationImages, data.Train.Count));
        // The data set's own loader: its preprocessing (channel order, colour conversion, layout), not only its mean and std.
        return data.Loader(train, options.BatchSize).Epoch(0);
    }

    private sealed class CountingBatches(IEnumerable<Batch> source, int limit) : System.Collections.IEnumerable, IEnumerable<Batch>
    {
        public int Images { get; private set; }

        public IEnumerator<Batch> GetEnumerator()
        {
            Images = 0;
            foreach (var b in source)
            {
                if (Images >= limit) yield break;
                int take = Math.Min(b.Count, limit - Images);
                var batch = take == b.Count ? b : b with
                {
                    Count = take,
                    Images = b.Images[..(int)(take * TensorData.ElementCount(b.SampleShape))],
                    Labels = b.Labels[..take],
                };
                Images += take;
                yield return batch;
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private static CountingBatches Limit(IEnumerable<Batch> source, int limit) => new(source, limit);

    private static int CountImages(CountingBatches batches) => batches.Images;
}
