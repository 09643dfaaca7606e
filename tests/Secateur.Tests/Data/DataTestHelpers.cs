using System.Buffers.Binary;
using System.IO.Compression;
using Secateur.Data;

namespace Secateur.Tests.Data;

/// <summary>A fresh temporary directory, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "secateur-data-" + Guid.NewGuid().ToString("N"));

    /// <summary>Full path of <paramref name="parts"/> under the directory, creating its parent folder.</summary>
    public string File(params string[] parts)
    {
        var path = System.IO.Path.Combine([Path, .. parts]);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        return path;
    }

    public string Write(byte[] contents, params string[] parts)
    {
        var path = File(parts);
        System.IO.File.WriteAllBytes(path, contents);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

internal static class DataTestHelpers
{
    /// <summary>IDX u8 image file contents: header then <paramref name="pixels"/> (n·h·w bytes).</summary>
    public static byte[] IdxImages(int n, int h, int w, byte[] pixels, int magic = 0x00000803)
    {
        var data = new byte[16 + pixels.Length];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(8), h);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(12), w);
        pixels.CopyTo(data, 16);
        return data;
    }

    /// <summary>IDX u8 label file contents.</summary>
    public static byte[] IdxLabels(byte[] labels, int magic = 0x00000801)
    {
        var data = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), labels.Length);
        labels.CopyTo(data, 8);
        return data;
    }

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(data);
        return output.ToArray();
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Asserts <paramref name="action"/> throws a BadFile <see cref="SecateurException"/> whose message names <paramref name="path"/>'s file.</summary>
    public static SecateurException ShouldBeBadFile(Action action, string path)
    {
        var e = Should.Throw<SecateurException>(action);
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(Path.GetFileName(path));
        return e;
    }

    /// <summary>The raw bytes of every image of <paramref name="data"/>, concatenated.</summary>
    public static byte[] AllBytes(ImageDataset data)
    {
        var all = new byte[data.Count * data.Shape.Size];
        for (int i = 0; i < data.Count; i++) data.GetImageBytes(i).CopyTo(all.AsSpan(i * data.Shape.Size));
        return all;
    }
}
