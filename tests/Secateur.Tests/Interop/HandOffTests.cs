using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Secateur.Interop;
using Secateur.Onnx;
using Secateur.Tests.Cli;

namespace Secateur.Tests.Interop;

/// <summary>
/// The round trip a team runs at scale, on this machine: export a package, fine-tune it with
/// <c>torchrun --nproc_per_node 2</c> (gloo on loopback) on the embedded Fashion-MNIST subset, import the weights back,
/// and find in Secateur the accuracy PyTorch measured.
/// </summary>
[Trait("Category", TestCategories.Cli)]
[Trait("Category", TestCategories.Slow)]
public sealed class HandOffTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-handoff-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>The embedded Fashion-MNIST subset (3,000 training and 1,000 test images) as IDX files finetune.py reads.</summary>
    private string EmbeddedData()
    {
        var dir = Directory.CreateDirectory(PathOf("data")).FullName;
        var assembly = typeof(Safetensors).Assembly;
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("Secateur.Data.Embedded.", StringComparison.Ordinal)))
        {
            using var from = assembly.GetManifestResourceStream(name)!;
            using var to = File.Create(Path.Combine(dir, name["Secateur.Data.Embedded.".Length..]));
            from.CopyTo(to);
        }
        return dir;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static List<JsonElement> Lines(string log) =>
        File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    /// <summary>Skips without PyTorch; else the exported LeNet-5 package, the data directory and the log path.</summary>
    private (string Package, string Data, string Log) Prepare()
    {
        Skip.IfNot(TorchPython.Available, TorchPython.Missing);
        return (Export(), EmbeddedData(), PathOf("epochs.jsonl"));
    }

    private string Export()
    {
        var (code, _, err) = CliTests.Run("export", "lenet5", "--preprocess", "fashion-mnist", "--pytorch", PathOf("package"), "-o", PathOf("model.onnx"));
        code.ShouldBe(0, err);
        return PathOf("package");
    }

    [SkippableFact]
    public void Torchrun_on_two_processes_fine_tunes_identically_and_the_weights_come_back_with_pytorchs_accuracy()
    {
        var (package, data, log) = Prepare();
        // Static rendezvous on a free loopback port (torchrun's --standalone always takes 29400, which may be busy).
        // --redirects/--tee: torch < 2.0 on Python 3.11 mis-parses their default "0"; 1 works everywhere.
        var (code, output) = TorchPython.Run(
            ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--redirects", "1", "--tee", "1", "--log_dir", PathOf("torchrun-logs"),
             Path.Combine(package, PyTorchExporter.FineTuneFile), "--data", data, "--epochs", "1", "--lr", "0.05", "--schedule", "onecycle",
             "--backend", "gloo", "--log", log, "--checkpoint", PathOf("ckpt.pt"), "--output", PathOf("tuned.safetensors")],
            timeout: TimeSpan.FromMinutes(4));
        code.ShouldBe(0, output);
        var lines = Lines(log);
        var epoch = lines.Single(l => l.TryGetProperty("epoch", out _) && !l.TryGetProperty("resumed", out _));
        epoch.GetProperty("processes").GetInt32().ShouldBe(2);
        epoch.GetProperty("steps").GetInt32().ShouldBe(24); // 3,000 images, a global batch of 128 (64 per process)
        var final = lines.Single(l => l.TryGetProperty("final", out _));
        var digests = final.GetProperty("digests").EnumerateArray().Select(d => d.GetString()).ToList();
        digests.Count.ShouldBe(2);
        digests.Distinct().Count().ShouldBe(1, "both ranks end with identical weights and statistics");
        File.Exists(PathOf("ckpt.pt")).ShouldBeTrue();

        // Back in Secateur: the imported model scores exactly what PyTorch measured on the same 1,000 test images.
        var (imported, _, err) = CliTests.Run("import-weights", PathOf("model.onnx"), PathOf("tuned.safetensors"), "-o", PathOf("tuned.onnx"));
        imported.ShouldBe(0, err);
        var (evalCode, evalOut, evalErr) = CliTests.Run("eval", PathOf("tuned.onnx"), "--data", "fashion-mnist-mini", "--json");
        evalCode.ShouldBe(0, evalErr);
        using var eval = JsonDocument.Parse(evalOut);
        eval.RootElement.GetProperty("samples").GetInt64().ShouldBe(final.GetProperty("test_count").GetInt64());
        long correct = (long)Math.Round(eval.RootElement.GetProperty("accuracy").GetDouble() * eval.RootElement.GetProperty("samples").GetInt64());
        correct.ShouldBe(final.GetProperty("test_correct").GetInt64());
        // It learned: well above the 10 % of chance after 24 steps.
        final.GetProperty("test_accuracy").GetDouble().ShouldBeGreaterThan(0.2);
        // The import changed the weights, and kept the recorded preprocessing.
        var before = OnnxSerializer.Load(PathOf("model.onnx"));
        var after = OnnxSerializer.Load(PathOf("tuned.onnx"));
        after.Preprocessing.ShouldBe(before.Preprocessing);
        after.Initializers["fc3.weight"].Floats.ShouldNotBe(before.Initializers["fc3.weight"].Floats);
    }

    [SkippableFact]
    public void Finetune_without_torchrun_checkpoints_resumes_and_distils()
    {
        var (package, data, log) = Prepare();
        string[] Args(int epochs) => [Path.Combine(package, PyTorchExporter.FineTuneFile), "--data", data, "--epochs", epochs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--train-limit", "256", "--test-limit", "200", "--batch-size", "64", "--log", log, "--checkpoint", PathOf("ckpt.pt"), "--resume", "--output", PathOf("tuned.safetensors")];
        var first = TorchPython.Run(Args(1));
        first.Code.ShouldBe(0, first.Output);
        // The second run resumes after epoch 1 and distils from a teacher package (here the exported model itself).
        var second = TorchPython.Run([.. Args(2), "--teacher", package, "--distill-alpha", "0.7"]);
        second.Code.ShouldBe(0, second.Output);
        var lines = Lines(log);
        lines.Where(l => l.TryGetProperty("epoch", out _) && l.TryGetProperty("train_loss", out _)).Select(l => l.GetProperty("epoch").GetInt32()).ShouldBe([1, 2]);
        lines.Single(l => l.TryGetProperty("resumed", out _)).GetProperty("epoch").GetInt32().ShouldBe(1);
        lines.Last(l => l.TryGetProperty("train_loss", out _)).GetProperty("teacher").GetString().ShouldBe(package);
        var steps = lines.First(l => l.TryGetProperty("steps", out _)).GetProperty("steps").GetInt32();
        steps.ShouldBe(4);
        // What the second run wrote imports cleanly into the exported model.
        WeightImport.Load(OnnxSerializer.Load(PathOf("model.onnx")), PathOf("tuned.safetensors")).Initializers.Count.ShouldBeGreaterThan(0);
    }
}
