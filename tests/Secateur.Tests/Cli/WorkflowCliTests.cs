using System.Text.Json;
using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

public sealed class WorkflowCliTests
{
    [Fact]
    public void Every_recipe_step_s_report_quotes_its_own_command_not_the_run_command()
    {
        using var dir = new TempDir();
        string At(string name) => dir.File(name);
        File.WriteAllText(At("two.yaml"), $"""
            model: lenet5
            prune:
              speedup: 2
              report: {At("prune.json")}
            sparsify:
              sparsity: 0.5
              report: {At("sparsify.json")}
            """);
        var (code, _, error) = CliTests.Run("run", At("two.yaml"));
        code.ShouldBe(0, error);
        string Command(string report)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(At(report)));
            return doc.RootElement.GetProperty("command").GetString()!;
        }
        // The recipe's fields in its order; the model and the hand-over output are filled in by the plan.
        Command("prune.json").ShouldBe($"secateur prune --speedup 2 --report {At("prune.json")} lenet5 --output {At("two.prune.onnx")}");
        Command("sparsify.json").ShouldBe($"secateur sparsify {At("two.prune.onnx")} --sparsity 0.5 --report {At("sparsify.json")}");
    }

    [Fact]
    public void Prune_threshold_removes_the_channels_whose_l1_share_of_their_group_is_below_it_and_dry_runs()
    {
        using var dir = new TempDir();
        var output = dir.File("t.onnx");
        var (code, json, error) = CliTests.Run("prune", "lenet5", "--threshold", "0.01", "--round-to", "1", "-o", output, "--json");
        code.ShouldBe(0, error);
        // The oracle, computed here from the weights: a producer row's L1 norm over the sum of its group's.
        var graph = Secateur.Models.ModelZoo.Create("lenet5");
        var scores = Secateur.Pruning.Importances.Create("l1").Score(Secateur.Pruning.DependencyGraph.Build(graph), new());
        using var doc = JsonDocument.Parse(json);
        doc.RootElement.GetProperty("target").GetString()!.ShouldContain("0.01");
        foreach (var g in doc.RootElement.GetProperty("groups").EnumerateArray())
        {
            var s = scores.Single(kv => kv.Key.Name == g.GetProperty("group").GetString()).Value;
            double sum = s.Sum(v => (double)v);
            long below = s.Count(v => v / sum < 0.01);
            long before = g.GetProperty("before").GetInt64();
            long expected = Math.Min(below, Math.Min(before - 1, (long)Math.Floor(before * 0.9)));
            (before - g.GetProperty("after").GetInt64()).ShouldBe(expected, g.GetProperty("group").GetString());
        }
        doc.RootElement.GetProperty("groups").EnumerateArray().ShouldContain(g => g.GetProperty("after").GetInt64() < g.GetProperty("before").GetInt64());
        (code, _, error) = CliTests.Run("prune", "lenet5", "--threshold", "0.01", "--dry-run", "--json");
        code.ShouldBe(0, error);
        (code, _, error) = CliTests.Run("prune", "lenet5", "--threshold", "1.5");
        code.ShouldBe(5);
        error.ShouldStartWith("error: ");
    }

    [Fact]
    public void Sparsify_is_the_weight_pruning_verb_and_its_parser_refuses_channel_options()
    {
        using var dir = new TempDir();
        var (code, json, error) = CliTests.Run("sparsify", "lenet5", "--sparsity", "0.8", "-o", dir.File("s.onnx"), "--json");
        code.ShouldBe(0, error);
        error.ShouldNotContain("deprecated");
        using (var doc = JsonDocument.Parse(json)) doc.RootElement.GetProperty("weightSparsity").GetDouble().ShouldBe(0.8, 1e-4);
        CliTests.Run("sparsify", "lenet5", "--sparsity", "0.8", "--speedup", "2").Code.ShouldNotBe(0);
        (code, _, error) = CliTests.Run("prune", "lenet5", "--granularity", "weight", "--sparsity", "0.8", "-o", dir.File("p.onnx"));
        code.ShouldBe(0, error);
        error.ShouldContain("deprecated");
    }

    [Theory]
    [InlineData("bench", "lenet5", "--threads", "0")]
    [InlineData("quantize", "lenet5", "--data", "embedded", "--threads", "0")]
    [InlineData("prune", "lenet5", "--speedup", "2", "--threads", "-1")]
    [InlineData("train", "lenet5", "--data", "embedded", "--threads", "0")]
    public void Threads_below_one_are_the_same_error_in_every_verb(params string[] args)
    {
        var (code, _, error) = CliTests.Run(args);
        code.ShouldBe(5);
        error.Trim().ShouldStartWith("error: --threads must be at least 1");
    }
}
