// Prune an ONNX file (or a zoo model) to half its MACs and save the smaller model.
//   dotnet run -- [model.onnx] [pruned.onnx]
// Without data, the criterion must be data-free (L1 filter magnitude here); the result is a dense, smaller ONNX file.
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;

var input = args.Length > 0 ? args[0] : null;
var output = args.Length > 1 ? args[1] : "pruned.onnx";
var model = input is null ? ModelZoo.Create("resnet20") : OnnxSerializer.Load(input);

var outcome = PruningPipeline.Run(model, new PruneRequest
{
    Importance = Importances.Create("l1"),
    Target = new PruningTarget { Speedup = 2 },
});
OnnxSerializer.Save(outcome.Graph, output);

Console.WriteLine($"{model.Name}: {outcome.Before.Params:N0} -> {outcome.After.Params:N0} params, " +
                  $"{outcome.Before.Macs:N0} -> {outcome.After.Macs:N0} MACs ({outcome.Speedup:0.00}x fewer); saved {output}");
if (outcome.Speedup < 2) throw new InvalidOperationException("the 2x MACs target was not reached");
