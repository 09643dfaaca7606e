using System.CommandLine;
using Secateur.Analysis;
using Secateur.Interop;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur export</c>: any model Secateur reads (zoo name, ONNX file, .sct archive) as a standard ONNX file.</summary>
public static class ExportCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = "zoo model name, .onnx file or .sct archive" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the ONNX file (default: <model>.onnx, or <model>.opset<N>.onnx for an .onnx input)" };
        var opset = CommonOptions.Opset();
        var input = CommonOptions.Input();
        var classes = CommonOptions.Classes();
        var json = CommonOptions.Json();
        var pytorch = new Option<string?>("--pytorch") { Description = "write a PyTorch package into this directory instead (model.py, weights.safetensors, finetune.py for torchrun, README.md); with -o the ONNX file too" };
        var preprocess = new PreprocessOptions();
        var cmd = new Command("export", "write a model as a standard ONNX file at the chosen opset (re-exports imported files in Secateur's clean form), or as a PyTorch package")
        { model, output, opset, input, classes, json, pytorch };
        preprocess.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var graph = ModelSource.Load(spec, r.GetValue(input), r.GetValue(classes));
            // The file keeps the preprocessing the model records; one given here is recorded instead.
            if (preprocess.Explicit(r, graph.Preprocessing) is { } given) graph.Preprocessing = given;
            else if (preprocess.FromData(r)) throw new SecateurException(ErrorCode.BadArgument, $"export reads no data, so it cannot compute '{Secateur.Graph.InputPreprocessing.FromDataName}' statistics; give the values (--mean, --std)");
            if (r.GetValue(pytorch) is { } directory)
            {
                var package = PyTorchExporter.Export(graph, directory);
                if (r.GetValue(output) is { } onnx) CommonOptions.Save(graph, CommonOptions.NotAnInput(onnx, spec), r.GetValue(opset));
                if (r.GetValue(json)) context.WriteJson(new { model = graph.Name, pytorch = directory, files = package.Files, tensors = package.Tensors, nodes = package.Nodes, onnx = r.GetValue(output), preprocessing = graph.Preprocessing?.ToString() });
                else context.Out.WriteLine($"{graph.Name}: PyTorch package in {directory} ({package.Nodes} nodes in model.py, {package.Tensors} tensors in {PyTorchExporter.WeightsFile}); fine-tune with: torchrun --nproc_per_node N {Path.Combine(directory, PyTorchExporter.FineTuneFile)} --data DIR (see {Path.Combine(directory, "README.md")})");
                return 0;
            }
            int version = Secateur.Onnx.OnnxSerializer.OpsetFor(graph, new Secateur.Onnx.OnnxSaveOptions { Opset = r.GetValue(opset) });
            var path = r.GetValue(output) ?? (File.Exists(spec)
                ? Path.Combine(Path.GetDirectoryName(spec) ?? ".", $"{Path.GetFileNameWithoutExtension(spec)}.opset{version}.onnx")
                : spec + ".onnx");
            CommonOptions.NotAnInput(path, spec);
            CommonOptions.Save(graph, path, version);
            var stats = ModelStats.Compute(graph);
            long bytes = new FileInfo(path).Length;
            if (r.GetValue(json)) context.WriteJson(new { model = graph.Name, output = path, opset = version, bytes, @params = stats.Params, macs = stats.Macs, preprocessing = graph.Preprocessing?.ToString() });
            else context.Out.WriteLine(FormattableString.Invariant($"{graph.Name}: opset {version}, {stats.Params:N0} params, {stats.Macs:N0} MACs; saved {path} ({bytes:N0} bytes)"));
            return 0;
        });
        return cmd;
    }
}
