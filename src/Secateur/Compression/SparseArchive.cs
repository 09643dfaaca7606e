using System.Buffers.Binary;
using Google.Protobuf;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Secateur.Compression;

/// <summary>How <see cref="SparseArchive"/> stores a model.</summary>
public sealed record ArchiveOptions
{
    /// <summary>
    /// Store the non-zeros of Conv and Gemm weights as int8 with one symmetric scale per row of axis 0 (the output
    /// channel for Conv and for Gemm with transB = 1): lossy. Every other tensor, and every tensor without this
    /// option, is stored exactly.
    /// </summary>
    public bool Int8 { get; init; }

    /// <summary>zstd level, 1 (fast) to 22 (smallest).</summary>
    public int Level { get; init; } = 19;

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) for a level out of range.</summary>
    public ArchiveOptions Validated()
    {
        if (Level is < 1 or > 22) throw new SecateurException(ErrorCode.BadArgument, $"the zstd level must be in 1..22 (got {Level})", nameof(Level));
        return this;
    }
}

/// <summary>
/// A compact file for a sparse <see cref="ModelGraph"/> (extension <c>.sct</c>). Layout: the magic <c>SCTZ</c>, a
/// format version byte, a flags byte (bit 0: int8 weights), the payload length (uint64, little-endian), then one zstd
/// frame (with its content checksum) of the payload. The payload is the model as ONNX with the float tensors' data
/// left out, followed by every float tensor as: its name, an encoding of where its non-zeros are — a bitmask, the gaps between
/// their positions as varints, or nothing when all are non-zero, whichever is smallest — and the non-zero values,
/// as float32 with their bytes grouped by significance (which zstd compresses better) or, with <see cref="ArchiveOptions.Int8"/>
/// and for Conv and Gemm weights, as int8 with per-row scales. Without int8 a model loads back bit for bit: a value
/// counts as non-zero when any of its bits is set, so −0.0 and NaN survive too.
/// </summary>
public static class SparseArchive
{
    /// <summary>The four bytes every archive starts with.</summary>
    public static ReadOnlySpan<byte> Magic => "SCTZ"u8;

    /// <summary>The format version this build writes and reads.</summary>
    public const byte Version = 1;

    private const int HeaderSize = 4 + 1 + 1 + 8;

    private enum Positions : byte { Bitmask = 0, Gaps = 1, Dense = 2 }

    private enum Values : byte { Float32 = 0, Int8 = 1 }

    /// <summary>The archive bytes of <paramref name="graph"/>.</summary>
    public static byte[] Compress(ModelGraph graph, ArchiveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        options = (options ?? new ArchiveOptions()).Validated();
        var model = OnnxExporter.Export(graph, new OnnxSaveOptions());
        var quantizable = options.Int8 ? QuantizableWeights(graph) : [];
        var tensors = new List<(string Name, TensorData Data)>();
        // Only the graph's own float tensors move out of the ONNX part; constants the exporter adds (a Dropout's
        // ratio from opset 12 on) stay where they are.
        foreach (var t in model.Graph.Initializer.Where(t => t.DataType == (int)ElementType.Float && graph.Initializers.ContainsKey(t.Name)))
        {
            tensors.Add((t.Name, graph.Initializers[t.Name]));
            t.ClearRawData();
        }
        using var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            var structure = model.ToByteArray();
            w.Write7BitEncodedInt(structure.Length);
            w.Write(structure);
            w.Write7BitEncodedInt(tensors.Count);
            foreach (var (name, data) in tensors)
            {
                w.Write(name);
                WriteTensor(w, data, quantizable.Contains(name));
            }
        }
        var raw = payload.ToArray();
        using var compressor = new Compressor(options.Level);
        compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        var frame = compressor.Wrap(raw);
        var result = new byte[HeaderSize + frame.Length];
        Magic.CopyTo(result);
        result[4] = Version;
        result[5] = (byte)(options.Int8 ? 1 : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(result.AsSpan(6), (ulong)raw.Length);
        frame.CopyTo(result.AsSpan(HeaderSize));
        return result;
    }

    /// <summary>Reads archive bytes back into a graph.</summary>
    /// <param name="bytes">The archive.</param>
    /// <param name="sourceName">Where the bytes came from; every error message names it.</param>
    /// <exception cref="SecateurException">BadFile when the bytes are not an archive of a version this build reads, or are corrupt or truncated.</exception>
    public static ModelGraph Decompress(byte[] bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        SecateurException Bad(string why, Exception? inner = null) => new(ErrorCode.BadFile, $"'{sourceName}' {why}", inner);
        if (bytes.Length < HeaderSize || !bytes.AsSpan(0, 4).SequenceEqual(Magic)) throw Bad("is not a Secateur compressed model (no SCTZ header)");
        if (bytes[4] != Version) throw Bad($"is a compressed model of format version {bytes[4]}; this Secateur reads version {Version}");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(6));
        if (length > int.MaxValue) throw Bad("is corrupt (impossible payload length)");
        var raw = new byte[length];
        try
        {
            using var decompressor = new Decompressor();
            if (!decompressor.TryUnwrap(bytes.AsSpan(HeaderSize), raw, out int written) || written != raw.Length)
                throw Bad("is corrupt or truncated (payload size differs from its header)");
        }
        catch (ZstdException e)
        {
            throw Bad($"is corrupt or truncated ({e.Message})", e);
        }
        try
        {
            using var r = new BinaryReader(new MemoryStream(raw));
            var structure = r.ReadBytes(r.Read7BitEncodedInt());
            var model = ModelProto.Parser.ParseFrom(structure);
            var byName = model.Graph.Initializer.Where(t => t.DataType == (int)ElementType.Float && !t.HasRawData)
                .ToDictionary(t => t.Name, StringComparer.Ordinal);
            int count = r.Read7BitEncodedInt();
            if (count != byName.Count) throw Bad("is corrupt (tensor count differs from its graph)");
            for (int k = 0; k < count; k++)
            {
                var name = r.ReadString();
                if (!byName.Remove(name, out var t)) throw Bad($"is corrupt (tensor '{name}' is not an empty float tensor of its graph)");
                long elements = t.Dims.Aggregate(1L, (a, b) => a * b);
                long rows = t.Dims.Count > 0 ? t.Dims[0] : 1;
                t.RawData = ByteString.CopyFrom(ReadTensor(r, elements, rows, Bad));
            }
            if (r.BaseStream.Position != r.BaseStream.Length) throw Bad("is corrupt (bytes after the last tensor)");
            return OnnxImporter.Import(model, sourceName);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidProtocolBufferException or FormatException or OverflowException or ArgumentOutOfRangeException)
        {
            throw Bad($"is corrupt or truncated ({e.Message})", e);
        }
    }

    /// <summary>Writes the archive of <paramref name="graph"/> to <paramref name="path"/> (atomically) and returns its size.</summary>
    public static long Save(ModelGraph graph, string path, ArchiveOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = Compress(graph, options);
        var full = Path.GetFullPath(path);
        var temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temp)) File.Delete(temp);
            throw new SecateurException(ErrorCode.BadFile, $"cannot write '{path}': {e.Message}", e);
        }
        return bytes.Length;
    }

    /// <summary>Reads the archive at <paramref name="path"/>.</summary>
    /// <exception cref="SecateurException">BadFile when it is missing, unreadable, corrupt or truncated.</exception>
    public static ModelGraph Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"'{path}': file not found");
        try { return Decompress(File.ReadAllBytes(path), path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{path}': cannot read the file: {e.Message}", e);
        }
    }

    /// <summary>Conv and Gemm weights of rank 2 or more: the tensors int8 mode quantizes.</summary>
    private static HashSet<string> QuantizableWeights(ModelGraph graph) => graph.Nodes
        .Where(n => n.Op is OpKind.Conv or OpKind.Gemm && n.InputOrNull(1) is { } w && graph.Initializers.TryGetValue(w, out var t) && t.Shape.Length >= 2)
        .Select(n => n.Inputs[1]).ToHashSet(StringComparer.Ordinal);

    private static bool IsNonZero(float v) => BitConverter.SingleToInt32Bits(v) != 0;

    private static void WriteTensor(BinaryWriter w, TensorData t, bool int8)
    {
        var data = t.Floats;
        int n = data.Length;
        var nonZero = new List<int>();
        for (int i = 0; i < n; i++) if (IsNonZero(data[i])) nonZero.Add(i);
        int nnz = nonZero.Count;
        // Bytes each way of locating the non-zeros; the values then cost the same, except that Dense stores zeros too.
        long valueSize = int8 ? 1 : 4;
        long bitmask = (n + 7) / 8;
        long gaps = 0;
        int previous = -1;
        foreach (var i in nonZero) { gaps += VarintSize(i - previous - 1); previous = i; }
        long dense = (n - nnz) * valueSize;
        var positions = dense <= Math.Min(bitmask, gaps) ? Positions.Dense : gaps < bitmask ? Positions.Gaps : Positions.Bitmask;
        w.Write((byte)positions);
        w.Write((byte)(int8 ? Values.Int8 : Values.Float32));
        int[] stored;
        switch (positions)
        {
            case Positions.Dense:
                stored = Enumerable.Range(0, n).ToArray();
                break;
            case Positions.Gaps:
                w.Write7BitEncodedInt(nnz);
                previous = -1;
                foreach (var i in nonZero) { w.Write7BitEncodedInt(i - previous - 1); previous = i; }
                stored = nonZero.ToArray();
                break;
            default:
                w.Write7BitEncodedInt(nnz);
                var mask = new byte[bitmask];
                foreach (var i in nonZero) mask[i >> 3] |= (byte)(1 << (i & 7));
                w.Write(mask);
                stored = nonZero.ToArray();
                break;
        }
        if (int8) WriteInt8(w, t, stored);
        else
        {
            // Byte planes: all lowest bytes, then the next, ... (sign and exponent bytes repeat and compress well).
            var planes = new byte[stored.Length * 4];
            for (int k = 0; k < stored.Length; k++)
            {
                uint bits = BitConverter.SingleToUInt32Bits(data[stored[k]]);
                for (int b = 0; b < 4; b++) planes[b * stored.Length + k] = (byte)(bits >> (8 * b));
            }
            w.Write(planes);
        }
    }

    /// <summary>Symmetric int8 per row of axis 0: scale = max |w| / 127, q = round(w / scale).</summary>
    private static void WriteInt8(BinaryWriter w, TensorData t, int[] stored)
    {
        var data = t.Floats;
        long rows = t.Shape[0], perRow = data.Length / Math.Max(1, rows);
        var scales = new float[rows];
        for (long r = 0; r < rows; r++)
        {
            float max = 0;
            for (long i = r * perRow; i < (r + 1) * perRow; i++) max = Math.Max(max, Math.Abs(data[i]));
            scales[r] = max / 127f;
            w.Write(scales[r]);
        }
        foreach (var i in stored)
        {
            float s = scales[i / perRow];
            w.Write((sbyte)(s == 0 ? 0 : Math.Clamp((int)MathF.Round(data[i] / s), -127, 127)));
        }
    }

    private static byte[] ReadTensor(BinaryReader r, long count, long rows, Func<string, Exception?, SecateurException> bad)
    {
        if (count > int.MaxValue) throw bad("is corrupt (tensor too large)", null);
        int n = (int)count;
        var positions = (Positions)r.ReadByte();
        var values = (Values)r.ReadByte();
        if (values is not (Values.Float32 or Values.Int8)) throw bad($"is corrupt (unknown value encoding {(byte)values})", null);
        int[] stored;
        switch (positions)
        {
            case Positions.Dense:
                stored = Enumerable.Range(0, n).ToArray();
                break;
            case Positions.Gaps:
                {
                    int nnz = r.Read7BitEncodedInt();
                    if (nnz < 0 || nnz > n) throw bad("is corrupt (non-zero count out of range)", null);
                    stored = new int[nnz];
                    long at = -1;
                    for (int k = 0; k < nnz; k++)
                    {
                        at += r.Read7BitEncodedInt() + 1L;
                        if (at >= n) throw bad("is corrupt (non-zero position out of range)", null);
                        stored[k] = (int)at;
                    }
                    break;
                }
            case Positions.Bitmask:
                {
                    int nnz = r.Read7BitEncodedInt();
                    var mask = r.ReadBytes((n + 7) / 8);
                    if (mask.Length != (n + 7) / 8) throw new EndOfStreamException();
                    var list = new List<int>(nnz);
                    for (int i = 0; i < n; i++) if ((mask[i >> 3] & (1 << (i & 7))) != 0) list.Add(i);
                    if (list.Count != nnz) throw bad("is corrupt (bitmask and non-zero count disagree)", null);
                    stored = list.ToArray();
                    break;
                }
            default:
                throw bad($"is corrupt (unknown position encoding {(byte)positions})", null);
        }
        var result = new float[n];
        if (values == Values.Int8)
        {
            long perRow = n / Math.Max(1, rows);
            var scales = new float[rows];
            for (long i = 0; i < rows; i++) scales[i] = r.ReadSingle();
            foreach (var i in stored) result[i] = r.ReadSByte() * scales[i / Math.Max(1, perRow)];
        }
        else
        {
            var planes = r.ReadBytes(stored.Length * 4);
            if (planes.Length != stored.Length * 4) throw new EndOfStreamException();
            for (int k = 0; k < stored.Length; k++)
            {
                uint bits = 0;
                for (int b = 0; b < 4; b++) bits |= (uint)planes[b * stored.Length + k] << (8 * b);
                result[stored[k]] = BitConverter.UInt32BitsToSingle(bits);
            }
        }
        var bytes = new byte[n * 4L];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), result[i]);
        return bytes;
    }

    private static int VarintSize(long v)
    {
        int size = 1;
        while (v >= 0x80) { v >>= 7; size++; }
        return size;
    }
}
