using Google.Protobuf;
using Secateur.Graph;
using Secateur.Onnx.Proto;

namespace Secateur.Onnx;

/// <summary>
/// Saves a <see cref="ModelGraph"/> as an ONNX model (IR version 8, one ai.onnx opset) and loads ONNX models
/// back. Saving is deterministic: the same graph and options always give the same bytes, and a saved file
/// loads back into an equal graph, so save, load and save again reproduces the file exactly.
/// </summary>
/// <remarks>
/// Conversions between Secateur's graph and ONNX:
/// <list type="bullet">
/// <item>Dropout keeps its <c>ratio</c> as an attribute in Secateur. For opset 12 and later, where ratio is an
/// input, it is written as a scalar float initializer <c>&lt;node&gt;.ratio</c>; on load a Dropout whose ratio
/// input is a constant float scalar gets the attribute back (and the constant is dropped when nothing else reads
/// it). A constant-false <c>training_mode</c> input is dropped on load; Secateur's Dropout is inference-mode.</item>
/// <item><c>Constant</c> nodes (value, value_float(s), value_int(s)) become initializers named after their output.</item>
/// <item>DOUBLE tensors load as FLOAT and INT32 tensors as INT64.</item>
/// <item>Initializers listed among the graph inputs (IR &lt; 4 files) are dropped from the inputs; saved files
/// never list them.</item>
/// <item>Unnamed nodes get the name <c>&lt;op_type&gt;_&lt;index&gt;</c>; an unnamed graph is called "model".</item>
/// <item>Nodes not in topological order are sorted (stably). value_info, doc strings and training info are not kept.</item>
/// <item>A graph output without a shape gets one from shape inference (dimensions that follow the batch are unknown).</item>
/// <item>Files of opsets 7 to 26 load (the attribute forms of Pad, Slice and BatchNormalization before 11 are translated). The shape arithmetic exporters emit (Shape, Gather, Unsqueeze, Concat, Cast, ...)
/// is folded into constants at two batch sizes; a batch-dependent Reshape target becomes 0 or -1. Split becomes Slices,
/// ReduceMean over the spatial axes GlobalAveragePool (+ Flatten) and over other axes (not the batch) a ReduceMean with attribute axes, Squeeze/Unsqueeze of activations Reshape, Identity of
/// a weight that weight, and a float initializer several nodes read is copied per node. Tensors with external data are
/// read relative to the model file's directory (<see cref="Load"/> only).</item>
/// </list>
/// </remarks>
public static class OnnxSerializer
{
    /// <summary>
    /// Writes <paramref name="graph"/> to <paramref name="path"/> as ONNX. The file is written to a temporary file in
    /// the same directory and then moved over <paramref name="path"/>, so a crash never leaves a partial model.
    /// </summary>
    /// <exception cref="SecateurException">InvalidGraph or UnsupportedOp when the graph cannot be written in the
    /// requested opset; BadArgument for an opset out of range; BadFile when the file cannot be written.</exception>
    public static void Save(ModelGraph graph, string path, OnnxSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var model = OnnxExporter.Export(graph, options ?? new OnnxSaveOptions());
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? ".";
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                model.WriteTo(stream);
                // Flushed to disk before the rename so that the rename can only publish a complete file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new SecateurException(ErrorCode.BadFile, $"cannot write '{path}': {e.Message}", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// The opset <see cref="Save"/> writes <paramref name="graph"/> in: <see cref="OnnxSaveOptions.Opset"/> when given,
    /// else the lowest one from <see cref="OnnxSaveOptions.DefaultOpset"/> up that writes every op as it is.
    /// </summary>
    public static int OpsetFor(ModelGraph graph, OnnxSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return options?.Opset ?? OnnxExporter.ChooseOpset(graph);
    }

    /// <summary>The ONNX encoding of <paramref name="graph"/>: exactly the bytes <see cref="Save"/> writes.</summary>
    /// <exception cref="SecateurException">As for <see cref="Save"/>, except BadFile.</exception>
    public static byte[] ToBytes(ModelGraph graph, OnnxSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return OnnxExporter.Export(graph, options ?? new OnnxSaveOptions()).ToByteArray();
    }

    /// <summary>Reads and validates the ONNX model at <paramref name="path"/>.</summary>
    /// <exception cref="SecateurException">BadFile when the file is missing, unreadable or not an ONNX model;
    /// UnsupportedOp listing every unsupported operator, attribute or tensor type; InvalidGraph when the model
    /// is malformed.</exception>
    public static ModelGraph Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"'{path}': file not found");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{path}': cannot read the file: {e.Message}", e);
        }
        if (bytes.Length == 0) throw new SecateurException(ErrorCode.BadFile, $"'{path}' is empty, not an ONNX model");
        // External tensor data is found relative to the model file, as ONNX specifies.
        return OnnxImporter.Import(Parse(bytes, path), path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>Parses and validates an ONNX model held in memory.</summary>
    /// <param name="bytes">The serialised ModelProto.</param>
    /// <param name="sourceName">Where the bytes came from (a file name, say); every error message starts with it.</param>
    /// <exception cref="SecateurException">As for <see cref="Load"/>.</exception>
    public static ModelGraph FromBytes(byte[] bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (bytes.Length == 0) throw new SecateurException(ErrorCode.BadFile, $"'{sourceName}' is empty, not an ONNX model");
        return OnnxImporter.Import(Parse(bytes, sourceName), sourceName);
    }

    private static ModelProto Parse(byte[] bytes, string sourceName)
    {
        try
        {
            return ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SecateurException(ErrorCode.BadFile,
                $"'{sourceName}' is not an ONNX model or is truncated (protobuf parse failed: {e.Message})", e);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error is the one worth reporting.
        }
    }
}
