using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Secateur.Graph;

namespace Secateur.Interop;

/// <summary>
/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to its <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> (begin and end in the data section), then the
/// raw little-endian tensors back to back. No code runs on reading, unlike a pickle. Secateur reads and writes the two
/// element types a graph stores, <c>F32</c> and <c>I64</c>.
/// </summary>
public static class Safetensors
{
    // The reference implementation refuses headers above 100 MB; so does this reader, before allocating.
    private const long MaxHeader = 100_000_000;

    /// <summary>Writes <paramref name="tensors"/> (in their order) to <paramref name="path"/>, with optional string metadata.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, TensorData>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var kv in metadata) meta[kv.Key] = kv.Value;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, t) in list)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = t.Type == ElementType.Float ? "F32" : "I64",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.ByteSize),
            };
            offset += t.ByteSize;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Padded with spaces to a multiple of 8 so that the data section is aligned, as the reference writer does.
        int padded = (json.Length + 7) / 8 * 8;
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        file.Write(length);
        file.Write(json);
        for (int i = json.Length; i < padded; i++) file.WriteByte((byte)' ');
        foreach (var (_, t) in list)
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing needs a little-endian machine");
            file.Write(t.Type == ElementType.Float ? MemoryMarshal.AsBytes(t.Floats.AsSpan()) : MemoryMarshal.AsBytes(t.Longs.AsSpan()));
        }
    }

    /// <summary>Reads every tensor of the file, in the header's order (data offset order).</summary>
    /// <exception cref="SecateurException">BadFile, naming the file (and the tensor), when the file is not valid safetensors or holds a type Secateur cannot store.</exception>
    public static OrderedDictionary<string, TensorData> Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = File.ReadAllBytes(path);
        SecateurException Bad(string what) => new(ErrorCode.BadFile, $"'{path}' is not a valid safetensors file: {what}");
        if (bytes.Length < 8) throw Bad($"it has {bytes.Length} bytes, fewer than the 8 of the header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeader || (long)headerLength > bytes.Length - 8)
            throw Bad($"the header length {headerLength} exceeds the file ({bytes.Length} bytes)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength)) as JsonObject ?? throw Bad("the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Bad($"the header is not JSON ({e.Message})");
        }
        long dataStart = 8 + (long)headerLength, dataLength = bytes.Length - dataStart;
        var entries = new List<(string Name, string Dtype, long[] Shape, long Begin, long End)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            try
            {
                var o = node!.AsObject();
                var offsets = o["data_offsets"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
                var shape = o["shape"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
                if (offsets.Length != 2) throw Bad($"tensor '{name}' has {offsets.Length} data offsets, not 2");
                entries.Add((name, o["dtype"]!.GetValue<string>(), shape, offsets[0], offsets[1]));
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
            {
                throw Bad($"tensor '{name}' lacks a string dtype, an integer shape or two integer data_offsets");
            }
        }
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        var result = new OrderedDictionary<string, TensorData>(StringComparer.Ordinal);
        long expected = 0;
        foreach (var (name, dtype, shape, begin, end) in entries)
        {
            int size = dtype switch
            {
                "F32" => 4,
                "I64" => 8,
                _ => throw new SecateurException(ErrorCode.BadFile, $"'{path}': tensor '{name}' has dtype {dtype}; Secateur reads F32 and I64 (save the weights as float32)"),
            };
            if (shape.Any(d => d < 0)) throw Bad($"tensor '{name}' has a negative dimension");
            long count = TensorData.ElementCount(shape);
            if (begin != expected || end - begin != count * size || end > dataLength)
                throw Bad($"tensor '{name}' ({dtype} {TensorData.FormatShape(shape)}) has data offsets [{begin}, {end}] that do not fit its size, its neighbours or the file");
            expected = end;
            var span = bytes.AsSpan((int)(dataStart + begin), (int)(end - begin));
            result.Add(name, size == 4
                ? TensorData.FromFloats(MemoryMarshal.Cast<byte, float>(span).ToArray(), shape)
                : TensorData.FromLongs(MemoryMarshal.Cast<byte, long>(span).ToArray(), shape));
        }
        if (expected != dataLength) throw Bad($"{dataLength - expected} bytes after the last tensor belong to none");
        return result;
    }
}
