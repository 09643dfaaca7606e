using System.Globalization;
using System.Reflection;
using System.Text;
using Secateur.Graph;

namespace Secateur.Interop;

/// <summary>What <see cref="PyTorchExporter.Export"/> wrote.</summary>
/// <param name="Directory">The package directory.</param>
/// <param name="Files">The files written, relative to <paramref name="Directory"/>.</param>
/// <param name="Tensors">How many tensors <c>weights.safetensors</c> holds (parameters and batch-norm statistics).</param>
/// <param name="Nodes">How many nodes the generated forward has, one line each.</param>
public sealed record PyTorchPackage(string Directory, IReadOnlyList<string> Files, int Tensors, int Nodes);

/// <summary>
/// Writes a <see cref="ModelGraph"/> as a self-contained PyTorch package: <c>model.py</c> (a readable
/// <c>nn.Module</c> whose <c>state_dict()</c> keys are the graph's tensor names, a forward with one line per node),
/// <c>weights.safetensors</c>, a fallback safetensors reader/writer for machines without the <c>safetensors</c>
/// package, <c>finetune.py</c> (DDP fine-tuning for <c>torchrun</c>) and a README with the commands. The package
/// needs only PyTorch; <see cref="WeightImport"/> brings the fine-tuned weights back.
/// </summary>
public static class PyTorchExporter
{
    /// <summary>The weights file of a package.</summary>
    public const string WeightsFile = "weights.safetensors";

    /// <summary>The generated module's file.</summary>
    public const string ModelFile = "model.py";

    /// <summary>The fine-tuning script's file.</summary>
    public const string FineTuneFile = "finetune.py";

    // Copied verbatim from the library's resources: they do not depend on the model.
    private static readonly string[] StaticFiles = ["safetensors_lite.py", FineTuneFile];

    /// <summary>The ops <c>model.py</c> can be generated for (every op the runtime executes).</summary>
    public static IEnumerable<OpKind> Supported => PythonOps.Supported;

    /// <summary>Writes the package for <paramref name="graph"/> into <paramref name="directory"/> (created if needed; files of the same names are replaced).</summary>
    /// <exception cref="SecateurException">UnsupportedOp naming the node when a node has no PyTorch translation; InvalidGraph when shapes do not infer.</exception>
    public static PyTorchPackage Export(ModelGraph graph, string directory)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var source = ModelSource(graph);
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelFile), source);
        var tensors = WeightImport.TensorNames(graph);
        Safetensors.Save(Path.Combine(directory, WeightsFile), tensors.Select(n => KeyValuePair.Create(n, graph.Initializers[n])),
            new Dictionary<string, string> { ["format"] = "pt", ["model"] = graph.Name });
        foreach (var file in StaticFiles) File.WriteAllText(Path.Combine(directory, file), Resource(file));
        File.WriteAllText(Path.Combine(directory, "README.md"), Readme(graph));
        return new PyTorchPackage(directory, [ModelFile, WeightsFile, .. StaticFiles, "README.md"], tensors.Count, graph.Nodes.Count);
    }

    /// <summary>The text of <c>model.py</c> for <paramref name="graph"/>.</summary>
    public static string ModelSource(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var shapes = ShapeInference.Infer(graph, batch: 1);
        // A dimension that changes with the batch is printed as N in the shape comments.
        var shapes2 = ShapeInference.Infer(graph, batch: 2);
        var parameters = graph.ParameterNames();
        var buffers = graph.BufferNames();
        var state = parameters.Concat(buffers).ToHashSet(StringComparer.Ordinal);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal) { "self", "torch", "nn", "F", "math", "resize_axis" };
        string Local(string value)
        {
            if (names.TryGetValue(value, out var known)) return known;
            var id = Identifier(value);
            for (int k = 2; !used.Add(id); k++) id = $"{Identifier(value)}_{k}";
            return names[value] = id;
        }
        string Expression(string value)
        {
            if (state.Contains(value)) return $"self.t({Quote(value)})";
            if (graph.IsInitializer(value))
                throw new SecateurException(ErrorCode.UnsupportedOp, $"initializer '{value}' ({graph.Initializers[value]}) is read as a tensor but is neither a parameter nor a batch-norm statistic; it has no PyTorch translation");
            return names.TryGetValue(value, out var id) ? id : throw new SecateurException(ErrorCode.InvalidGraph, $"value '{value}' is read before it is written");
        }
        string Shape(string value) => "(" + string.Join(", ", shapes[value].Select((d, i) => shapes2[value][i] != d ? "N" : d.ToString(CultureInfo.InvariantCulture))) + ")";

        var s = new StringBuilder();
        s.AppendLine($"\"\"\"{graph.Name}: generated by Secateur from its model graph ({graph.Nodes.Count} nodes). Needs only PyTorch.");
        s.AppendLine();
        s.AppendLine("state_dict() keys are Secateur's tensor names, so weights.safetensors loads as it is; see README.md.");
        s.AppendLine("\"\"\"");
        s.AppendLine("import math");
        s.AppendLine();
        s.AppendLine("import torch");
        s.AppendLine("import torch.nn as nn");
        s.AppendLine("import torch.nn.functional as F");
        s.AppendLine();
        s.AppendLine("try:  # the reference implementation when installed, else the package's own reader/writer of the same format");
        s.AppendLine("    from safetensors.torch import load_file, save_file");
        s.AppendLine("except ImportError:");
        s.AppendLine("    from safetensors_lite import load_file, save_file");
        s.AppendLine();
        s.AppendLine($"NAME = {Quote(graph.Name)}");
        s.AppendLine($"INPUTS = {{{string.Join(", ", graph.Inputs.Select(i => $"{Quote(i.Name)}: {PyShape(i)}"))}}}  # None: the batch");
        s.AppendLine($"OUTPUTS = [{string.Join(", ", graph.Outputs.Select(o => Quote(o.Name)))}]");
        s.AppendLine($"# What the model expects as input (Secateur's InputPreprocessing, compact form); None when it records none.");
        s.AppendLine($"PREPROCESSING = {(graph.Preprocessing is { } p ? Quote(p.ToString()) : "None")}");
        s.AppendLine("PARAMETERS = {");
        foreach (var n in parameters) s.AppendLine($"    {Quote(n)}: {PyTuple(graph.Initializers[n].Shape)},");
        s.AppendLine("}");
        s.AppendLine("BUFFERS = {  # batch-norm running statistics");
        foreach (var n in buffers) s.AppendLine($"    {Quote(n)}: {PyTuple(graph.Initializers[n].Shape)},");
        s.AppendLine("}");
        s.AppendLine(Resource("model_base.py").TrimEnd());
        s.AppendLine();
        s.AppendLine();
        s.AppendLine("class Model(SecateurModule):");
        s.AppendLine($"    \"\"\"{graph.Name} as Secateur runs it: each line below is one node of the graph, with its output shape.\"\"\"");
        s.AppendLine();
        s.AppendLine("    def __init__(self):");
        s.AppendLine("        super().__init__(PARAMETERS, BUFFERS)");
        s.AppendLine();
        s.AppendLine($"    def forward(self, {string.Join(", ", graph.Inputs.Select(i => Local(i.Name)))}):");
        foreach (var node in graph.Nodes)
        {
            var call = new PythonCall(node, graph, shapes, Expression);
            var expression = PythonOps.For(call);
            s.AppendLine($"        {Local(node.Output)} = {expression}  # {node.Name} ({node.Op}): {Shape(node.Output)}");
        }
        var outputs = graph.Outputs.Select(o => Expression(o.Name)).ToList();
        s.AppendLine($"        return {(outputs.Count == 1 ? outputs[0] : "(" + string.Join(", ", outputs) + ")")}");
        s.AppendLine();
        s.AppendLine();
        s.AppendLine("def build(weights=None):");
        s.AppendLine("    \"\"\"The model, with the weights of a safetensors file when given (every tensor checked).\"\"\"");
        s.AppendLine("    model = Model()");
        s.AppendLine("    if weights is not None:");
        s.AppendLine("        model.load_weights(weights)");
        s.AppendLine("    return model");
        return s.ToString();
    }

    /// <summary>A Python identifier for a value name: letters, digits and underscores, not starting with a digit.</summary>
    internal static string Identifier(string value)
    {
        var b = new StringBuilder();
        foreach (var ch in value) b.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '_');
        var id = b.ToString().Trim('_');
        while (id.Contains("__", StringComparison.Ordinal)) id = id.Replace("__", "_", StringComparison.Ordinal);
        if (id.Length == 0 || char.IsAsciiDigit(id[0])) id = "v_" + id;
        if (id.Length > 48) id = id[^48..].TrimStart('_') is { Length: > 0 } tail && !char.IsAsciiDigit(tail[0]) ? tail : "v_" + id[^46..];
        return PythonKeywords.Contains(id) ? id + "_" : id;
    }

    private static readonly HashSet<string> PythonKeywords = new(StringComparer.Ordinal)
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
        "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
        "return", "try", "while", "with", "yield",
    };

    /// <summary>A Python string literal.</summary>
    internal static string Quote(string text)
    {
        var b = new StringBuilder("\"");
        foreach (var ch in text)
            b.Append(ch switch
            {
                '\\' => "\\\\",
                '"' => "\\\"",
                '\n' => "\\n",
                '\r' => "\\r",
                _ when ch < ' ' => $"\\x{(int)ch:x2}",
                _ => ch.ToString(),
            });
        return b.Append('"').ToString();
    }

    private static string PyTuple(long[] shape) => shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";

    private static string PyShape(ValueInfo v) => "[" + string.Join(", ", v.Dims.Select(d => d.IsSymbolic ? "None" : d.Value.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>One of the package's fixed files, from the library's embedded resources.</summary>
    internal static string Resource(string file)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Secateur.Interop.Package." + file)
            ?? throw new InvalidOperationException($"resource {file} is missing from the library");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string Readme(ModelGraph graph) => Resource("README.md")
        .Replace("{{name}}", graph.Name, StringComparison.Ordinal)
        .Replace("{{preprocessing}}", graph.Preprocessing?.ToString() ?? "none recorded: finetune.py then feeds [0, 1] pixels unless given a description (see its help)", StringComparison.Ordinal);
}
