using Secateur.Cli;
using Secateur.Cli.Recipes;

namespace Secateur.Tests.Cli;

// End-to-end runs of the secateur command line (in process).
[Trait("Category", TestCategories.Cli)]
public sealed class RecipeTests
{
    private static System.CommandLine.RootCommand Root() => Secateur.Cli.Cli.Root(new CliContext(TextWriter.Null, TextWriter.Null));

    private static List<string> Commands(string yaml, string source = "r.yaml") =>
        Recipe.Parse(yaml, source).Plan(Root()).Select(p => string.Join(' ', p.Args)).ToList();

    private static SecateurException Error(string yaml) => Should.Throw<SecateurException>(() => Commands(yaml));

    [Fact]
    public void Steps_run_in_file_order_with_defaults_and_the_model_flowing_between_them()
    {
        var commands = Commands("""
            model: lenet5
            data: embedded
            seed: 3
            train:
              epochs: 2
            sensitivity:
              ratios: 0.5
            prune:
              speedup: 2
              exclude: [conv1, fc3]
              distill: true
              global: false
            """);
        commands.ShouldBe([
            "train --epochs 2 lenet5 --data embedded --seed 3 --output r.train.onnx",
            "sensitivity r.train.onnx --ratios 0.5 --data embedded --seed 3",
            "prune r.train.onnx --speedup 2 --exclude conv1 --exclude fc3 --distill --data embedded --seed 3",
        ]);
    }

    [Theory]
    [InlineData("model: lenet5\nprune:\n  speeed: 2\n", "r.yaml:3: 'prune' has no option 'speeed'; did you mean 'speedup'?")]
    [InlineData("model: lenet5\nprune:\n  speedup: fast\n", "r.yaml:3: prune.speedup: 'fast' is not a number")]
    [InlineData("model: lenet5\nprune:\n  round-to: 2.5\n", "r.yaml:3: prune.round-to: '2.5' is not a whole number")]
    [InlineData("model: lenet5\nprune:\n  speedup: 2\n  schedule: weird\n", "r.yaml:4: prune.schedule: Argument 'weird' not recognized")]
    [InlineData("model: lenet5\nprune:\n  distill: maybe\n", "prune.distill is true or false, not 'maybe'")]
    [InlineData("model: lenet5\nprune:\n  speedup: [2, 3]\n", "prune.speedup takes one value, not a list")]
    [InlineData("model: lenet5\nbogus: 1\nprune:\n  speedup: 2\n", "r.yaml:2: no step of this recipe has an option 'bogus'")]
    [InlineData("model: lenet5\nprnue:\n  speedup: 2\n", "r.yaml:2: unknown step 'prnue'; did you mean 'prune'?")]
    [InlineData("model: [lenet5\n", "r.yaml:2: not valid YAML")]
    [InlineData("model: lenet5\n", "the recipe has no steps")]
    [InlineData("prune:\n  speedup: 2\n  speedup: 3\n", "r.yaml:3: not valid YAML: Duplicate key speedup")]
    [InlineData("prune:\n  data:\n    name: x\n", "r.yaml:2: 'prune.data' must be a value or a list of values")]
    [InlineData("- prune\n", "a recipe is a YAML mapping")]
    public void Mistakes_are_errors_naming_the_key_and_the_line(string yaml, string message)
    {
        var e = Error(yaml);
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldContain(message);
    }

    [Theory]
    [InlineData("prune", "resnet20", "--data", "embedded", "--speedup", "2", "--exclude", "conv1", "layer1.0.conv1", "--distill", "--schedule", "dynamic", "--tolerance", "0.02")]
    [InlineData("train", "lenet5", "--epochs", "3", "--lr", "0.05", "--no-augment", "-o", "my model.onnx")]
    [InlineData("sensitivity", "resnet20", "--data", "embedded", "--ratios", "0.25,0.5", "--criterion", "l2")]
    [InlineData("inspect", "mobilenetv2", "--json")]
    public void A_saved_command_line_runs_as_the_same_command(params string[] args)
    {
        var root = Root();
        var yaml = Recipe.FromCommandLine(root, args);
        var plan = Recipe.Parse(yaml, "saved.yaml").Plan(root).ShouldHaveSingleItem();
        // Same verb and the same value for every option and argument, whatever the order or spelling of the tokens.
        var original = root.Parse(args);
        var replayed = root.Parse(plan.Args);
        replayed.CommandResult.Command.ShouldBeSameAs(original.CommandResult.Command);
        foreach (var option in original.CommandResult.Command.Options)
            Format(replayed.GetResult(option)?.GetValueOrDefault<object?>()).ShouldBe(Format(original.GetResult(option)?.GetValueOrDefault<object?>()), option.Name);
        foreach (var argument in original.CommandResult.Command.Arguments)
            Format(replayed.GetValue<object?>(argument.Name)).ShouldBe(Format(original.GetValue<object?>(argument.Name)));
    }

    private static string Format(object? v) => v is System.Collections.IEnumerable e and not string ? string.Join("|", e.Cast<object>()) : v?.ToString() ?? "";

    [Fact]
    public void Save_recipe_writes_a_file_instead_of_running()
    {
        var file = Path.Combine(Path.GetTempPath(), $"secateur-{Guid.NewGuid():N}.yaml");
        try
        {
            var (code, output, error) = CliTests.Run("prune", "resnet20", "--speedup", "2", "--save-recipe", file);
            code.ShouldBe(0, error);
            output.ShouldContain($"secateur run {file}");
            File.ReadAllText(file).ShouldContain("  speedup: 2");
            File.Exists("resnet20.pruned.onnx").ShouldBeFalse();
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void The_quick_protocol_recipe_runs_the_benchmark_scripts_commands()
    {
        const string recipe = "resnet20-quick.yaml";
        // The recipe must reproduce the recorded numbers: it has to run exactly what the benchmark scripts ran.
        var root = FindRepo();
        var plan = Recipe.Load(Path.Combine(root, "recipes", recipe)).Plan(Root());
        var parsed = plan.Select(p => Root().Parse(p.Args)).ToList();
        string Value(int step, string option) => Format(parsed[step].GetResult(parsed[step].CommandResult.Command.Options.Single(o => o.Name == option))?.GetValueOrDefault<object?>());
        plan[0].Args[0].ShouldBe("train");
        parsed[0].GetValue<string>("model").ShouldBe("resnet20");
        Value(0, "--epochs").ShouldBe("5");
        Value(0, "--seed").ShouldBe("0");
        Value(0, "--data").ShouldBe("fashion-mnist");
        plan[1].Args[0].ShouldBe("prune");
        parsed[1].GetValue<string>("model").ShouldBe("resnet20-quick.onnx");
        Value(1, "--criterion").ShouldBe("l1");
        Value(1, "--speedup").ShouldBe("2");
        Value(1, "--finetune-epochs").ShouldBe("3");
        Value(1, "--lr").ShouldBe("0.01");
        Value(1, "--recalibrate").ShouldBe("1024");
        Value(1, "--round-to").ShouldBe("1");
        var script = File.ReadAllText(Path.Combine(root, "benchmarks", "pruning", "run.sh"));
        script.ShouldContain("--round-to 1 --data fashion-mnist --speedup 2 --criterion l1 --finetune-epochs 3");
    }

    [Fact]
    public void Every_shipped_recipe_is_valid()
    {
        var files = Directory.GetFiles(Path.Combine(FindRepo(), "recipes"), "*.yaml");
        files.Length.ShouldBeGreaterThanOrEqualTo(3);
        foreach (var f in files) Recipe.Load(f).Plan(Root()).Count.ShouldBe(2, f);
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Secateur.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void A_recipe_runs_its_steps_and_its_report_quotes_it()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-recipe");
        try
        {
            string At(string name) => Path.Combine(dir.FullName, name);
            File.WriteAllText(At("tiny.yaml"), $"""
                model: lenet5
                data: embedded
                train-limit: 256
                train:
                  epochs: 1
                  batch-size: 64
                prune:
                  speedup: 2
                  report: {At("tiny.html")}
                """);
            var (code, _, error) = CliTests.Run("run", At("tiny.yaml"));
            code.ShouldBe(0, error);
            File.Exists(At("tiny.train.onnx")).ShouldBeTrue();
            File.Exists(At("tiny.train.pruned.onnx")).ShouldBeTrue();
            var page = File.ReadAllText(At("tiny.html"));
            page.ShouldContain("id=\"recipe\"");
            page.ShouldContain("train-limit: 256");

            File.WriteAllText(At("fails.yaml"), "model: lenet5\nprune:\n  speedup: 1000\n");
            (code, _, error) = CliTests.Run("run", At("fails.yaml"));
            code.ShouldBe((int)ErrorCode.ImpossibleTarget);
            error.ShouldContain("fails.yaml:2: step 'prune' failed");
        }
        finally { dir.Delete(true); }
    }
}
