using System.IO.Compression;
using System.Text.Json;
using Secateur.Onnx;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Training;

/// <summary>What a checkpoint remembers besides the weights.</summary>
/// <param name="EpochsDone">Completed epochs.</param>
/// <param name="History">Per-epoch results so far.</param>
public sealed record CheckpointState(int EpochsDone, IReadOnlyList<EpochResult> History)
{
    /// <summary>
    /// Epochs of the run that wrote the checkpoint (its learning-rate schedule spans them); null in checkpoints
    /// written before this was recorded. Resuming under another epoch count is refused.
    /// </summary>
    public int? Epochs { get; init; }
}

/// <summary>
/// A training checkpoint: one zip file holding the model as ONNX (graph, weights and batch-norm statistics),
/// the optimizer state and a JSON state. Written to a temporary file and renamed over the old one, so a
/// crash at any moment leaves either the previous or the new checkpoint, never a partial file.
/// </summary>
public static class Checkpoint
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Save(string path, GraphModule module, TorchSharp.Modules.OptimizerHelper optimizer, CheckpointState state)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(optimizer);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using var optimizerState = new MemoryStream();
            using (var writer = new BinaryWriter(optimizerState, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
            using (var zip = new ZipArchive(stream, ZipArchiveMode.Create))
            {
                Write(zip, "model.onnx", OnnxSerializer.ToBytes(module.ToGraph()));
                Write(zip, "optimizer.bin", optimizerState.ToArray());
                Write(zip, "state.json", JsonSerializer.SerializeToUtf8Bytes(state, Json));
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Reads the model graph stored in a checkpoint.</summary>
    public static Graph.ModelGraph LoadGraph(string path)
    {
        using var zip = Open(path);
        return OnnxSerializer.FromBytes(Read(zip, path, "model.onnx"), path);
    }

    /// <summary>Copies a checkpoint's weights and optimizer state into <paramref name="module"/> and <paramref name="optimizer"/>.</summary>
    public static CheckpointState Restore(string path, GraphModule module, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(optimizer);
        using var zip = Open(path);
        var graph = OnnxSerializer.FromBytes(Read(zip, path, "model.onnx"), path);
        using (no_grad())
        {
            foreach (var (name, data) in module.Graph.Initializers)
            {
                if (!graph.Initializers.TryGetValue(name, out var saved) || !saved.Shape.SequenceEqual(data.Shape))
                    throw new SecateurException(ErrorCode.BadFile, $"checkpoint '{path}' does not match this model: tensor '{name}' is missing or has another shape");
                using var t = GraphModule.ToTensor(saved, module.Device);
                module.Tensor(name).copy_(t);
            }
        }
        using (var reader = new BinaryReader(new MemoryStream(Read(zip, path, "optimizer.bin")))) optimizer.load_state_dict(reader);
        return JsonSerializer.Deserialize<CheckpointState>(Read(zip, path, "state.json"), Json)
               ?? throw new SecateurException(ErrorCode.BadFile, $"checkpoint '{path}' has an empty state");
    }

    private static ZipArchive Open(string path)
    {
        try { return ZipFile.OpenRead(path); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"cannot read checkpoint '{path}': {e.Message}", e);
        }
    }

    private static void Write(ZipArchive zip, string name, byte[] bytes)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
        s.Write(bytes);
    }

    private static byte[] Read(ZipArchive zip, string path, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new SecateurException(ErrorCode.BadFile, $"checkpoint '{path}' has no {name}");
        using var s = entry.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
