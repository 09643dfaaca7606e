using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Onnx;

namespace Secateur.Deployment;

/// <summary>
/// A model to benchmark: its ONNX bytes (what ONNX Runtime runs) and, when Secateur can import it, its
/// <see cref="ModelGraph"/> with parameter and MAC counts. A model Secateur cannot import is still timed;
/// its counts are unknown and <see cref="ImportError"/> says why.
/// </summary>
public sealed class BenchmarkModel
{
    private BenchmarkModel(string name, byte[] onnx, ModelGraph? graph, string? importError)
    {
        Name = name;
        Onnx = onnx;
        Graph = graph;
        ImportError = importError;
    }

    /// <summary>The model's name (file path or graph name).</summary>
    public string Name { get; }

    /// <summary>The ONNX encoding ONNX Runtime runs.</summary>
    public byte[] Onnx { get; }

    /// <summary>The imported graph, or null when Secateur cannot import the model.</summary>
    public ModelGraph? Graph { get; }

    /// <summary>Why the model could not be imported, or null.</summary>
    public string? ImportError { get; }

    /// <summary>Reads the ONNX file at <paramref name="path"/> and tries to import it.</summary>
    /// <exception cref="SecateurException">BadFile when the file is missing or unreadable.</exception>
    public static BenchmarkModel FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = OnnxRuntimeSession.ReadModelFile(path);
        try
        {
            return new BenchmarkModel(path, bytes, OnnxSerializer.FromBytes(bytes, path), null);
        }
        catch (SecateurException e) when (e.Code is ErrorCode.UnsupportedOp or ErrorCode.InvalidGraph)
        {
            // ORT may still run what Secateur's op subset cannot represent: time it, with counts unknown.
            return new BenchmarkModel(path, bytes, null, e.Message);
        }
    }

    /// <summary>A model from a graph (e.g. a zoo model or a pruning candidate), exported to ONNX.</summary>
    public static BenchmarkModel FromGraph(ModelGraph graph, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return new BenchmarkModel(name ?? graph.Name, OnnxSerializer.ToBytes(graph), graph, null);
    }

    /// <summary>Opens an ONNX Runtime session over the model.</summary>
    public OnnxRuntimeSession Open(SessionSettings? settings = null) => OnnxRuntimeSession.FromBytes(Onnx, Name, settings);

    /// <summary>
    /// Parameters and MACs per image (see <see cref="ModelStats.Convention"/>), or null when the model was not
    /// imported or its input has symbolic dimensions besides the batch and <paramref name="inputShape"/> (without
    /// the batch) is not given.
    /// </summary>
    public ModelStats? Stats(IReadOnlyList<long>? inputShape = null)
    {
        if (Graph is null || Graph.Inputs.Count != 1) return null;
        var input = Graph.Inputs[0];
        Dictionary<string, long[]>? shapes = null;
        if (inputShape is not null)
        {
            if (inputShape.Count != input.Dims.Count - 1) return null;
            shapes = new() { [input.Name] = [1, .. inputShape] };
        }
        else if (input.Dims.Skip(1).Any(d => d.IsSymbolic)) return null;
        try
        {
            return ModelStats.Compute(Graph, shapes);
        }
        catch (SecateurException)
        {
            return null; // shapes that do not fit the graph: the counts are unknown, the timing still stands
        }
    }
}
