using System.CommandLine;
using Secateur.Interop;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur import-weights</c>: the weights of a safetensors file (e.g. fine-tuned with PyTorch) into the model they were exported from.</summary>
public static class ImportWeightsCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file the weights were exported from (secateur export --pytorch)" };
        var weights = new Argument<string>("weights") { Description = "safetensors file with every parameter and batch-norm statistic (finetune.py writes tuned.safetensors)" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the model with the imported weights (default: <model>.imported.onnx)" };
        var opset = CommonOptions.Opset();
        var json = CommonOptions.Json();
        var cmd = new Command("import-weights", "load weights from a safetensors file into a model, checking every tensor's name, shape and type") { model, weights, output, opset, json };
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var file = r.GetValue(weights)!;
            var graph = ModelSource.Load(spec, null, null);
            var imported = WeightImport.Load(graph, file);
            var path = CommonOptions.NotAnInput(r.GetValue(output) ?? ModelSource.DefaultOutput(spec, ".imported.onnx"), spec, file);
            CommonOptions.Save(imported, path, r.GetValue(opset));
            int count = WeightImport.TensorNames(graph).Count;
            if (r.GetValue(json)) context.WriteJson(new { model = imported.Name, weights = file, tensors = count, output = path });
            else context.Out.WriteLine($"{imported.Name}: {count} tensors from {file}; saved {path}");
            return 0;
        });
        return cmd;
    }
}
