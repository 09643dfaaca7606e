using System.CommandLine;
using Secateur.Data;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Cli.Commands;

/// <summary>
/// <c>secateur demo</c>: the first command a newcomer runs. Trains LeNet-5 on the embedded Fashion-MNIST subset,
/// saves it as ONNX, reloads the file and checks it scores the same — no download, about a minute on 2 cores.
/// </summary>
public static class DemoCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Option<string>("--model") { Description = "zoo model to train", DefaultValueFactory = _ => "lenet5" };
        var epochs = new Option<int>("--epochs") { Description = "training epochs", DefaultValueFactory = _ => 8 };
        var output = new Option<string>("--output", "-o") { Description = "where to save the trained model", DefaultValueFactory = _ => "demo.onnx" };
        var json = CommonOptions.Json();
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var cmd = new Command("demo", "train LeNet-5 on the built-in Fashion-MNIST subset, report accuracy, params and MACs, save demo.onnx") { model, epochs, output, json, seed, threads };
        cmd.SetAction(r =>
        {
            CommonOptions.ApplyTorchThreads(CommonOptions.ThreadCount(r, threads));
            var data = DataSource.Resolve("embedded");
            var graph = ModelZoo.Create(r.GetValue(model)!, new ZooOptions(1, 28, 28, 10, r.GetValue(seed)));
            // SGD with one-cycle at a learning rate that suits a small BN-free network on 3,000 images.
            var options = new TrainingOptions { Epochs = r.GetValue(epochs), BatchSize = 64, LearningRate = 0.05, Seed = r.GetValue(seed) }.Validated();
            var outcome = TrainCommand.Run(context, graph, data, options, "cpu", null);
            var path = r.GetValue(output)!;
            OnnxSerializer.Save(outcome.Graph, path);
            // Prove the saved file is the model: reload it and evaluate again.
            using var reloaded = new GraphModule(OnnxSerializer.Load(path));
            var again = Trainer.Evaluate(reloaded, data.TestLoader());
            if (again.Top1 != outcome.Test.Top1)
                throw new InvalidOperationException($"reloaded model scores {again.Top1:P2}, trained model {outcome.Test.Top1:P2}");
            TrainCommand.Report(context, r.GetValue(json), outcome, path);
            if (!r.GetValue(json))
                context.Out.WriteLine($"reloaded {path}: same accuracy. Next: secateur inspect {path}; secateur eval {path} --data embedded");
            return 0;
        });
        return cmd;
    }
}
