// Train a small model, then prune it with a labelled dataset and fine-tune: the data-driven path, on the Fashion-MNIST
// subset built into Secateur (3,000 training images, so it runs in about a minute).
//   dotnet run -- [fine-tuning epochs]
// Swap "embedded" for "fashion-mnist" (the full set), "cifar10" or "folder:DIR" (one sub-folder per class), and start
// from your own model with OnnxSerializer.Load("model.onnx") instead of training one here.
using Secateur.Data;
using Secateur.Models;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Training;

var epochs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2;
var data = DataSource.Resolve("embedded");

// 1. A trained model to start from: LeNet-5, four epochs (the library's Trainer; `secateur train` does the same).
using var module = new GraphModule(ModelZoo.Create("lenet5"));
var training = new TrainingOptions { Epochs = 4, BatchSize = 64, LearningRate = 0.05 }.Validated();
new Trainer(module, training).Fit(data.TrainLoader(training.BatchSize, seed: 0));
var model = module.ToGraph();

// 2. Prune to half the MACs with a data-driven criterion, then fine-tune on the same labelled data.
var outcome = PruningPipeline.Run(model, new PruneRequest
{
    Importance = Importances.Create("taylor"),
    Target = new PruningTarget { Speedup = 2 },
    Data = data,
    FineTuning = PruneRequest.DefaultFineTuning with { Epochs = epochs },
});

static string Pct(double? v) => v is { } x ? $"{x:P2}" : "-";
var s = outcome.Stages;
Console.WriteLine($"{outcome.Speedup:0.00}x fewer MACs ({outcome.Before.Params:N0} -> {outcome.After.Params:N0} params); test accuracy " +
                  $"before {Pct(s.Before)}, right after pruning {Pct(s.Pruned)}, after batch-norm recalibration {Pct(s.Recalibrated)}, " +
                  $"after {epochs} fine-tuning epoch{(epochs == 1 ? "" : "s")} {Pct(s.FineTuned)}");
// A trained LeNet-5 reaches about 75 % on this subset; a pruned, fine-tuned one that falls far below it is broken.
if (s.FineTuned is not { } tuned || tuned < 0.5) throw new InvalidOperationException("fine-tuning did not recover a working model");
