using System.CommandLine;
using Secateur.Cli.Recipes;
using Secateur.Data;
using Secateur.Graph;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur run recipe.yaml</c>: a whole pipeline from one file.</summary>
public static class RunCommand
{
    /// <summary>Builds the verb; <paramref name="root"/> supplies the verbs a recipe's steps run.</summary>
    public static Command Create(CliContext context, Func<RootCommand> root)
    {
        var file = new Argument<string>("recipe") { Description = "YAML recipe: defaults (model, data, seed, …) and steps (train, sensitivity, prune, …) run in order" };
        var dryRun = new Option<bool>("--dry-run") { Description = "check the recipe and print the command of every step without running them" };
        var cmd = new Command("run", "run a whole pipeline from a YAML recipe (every CLI option is a recipe field)") { file, dryRun };
        cmd.SetAction(r =>
        {
            var recipe = Recipe.Load(r.GetValue(file)!);
            var verbs = root();
            // Everything is checked before anything runs: a typo on the last step must not cost an hour of training.
            var plan = recipe.Plan(verbs);
            Preflight(context, recipe, verbs, plan);
            foreach (var (step, args) in plan)
            {
                var line = "secateur " + string.Join(' ', args.Select(a => a.Any(char.IsWhiteSpace) ? $"'{a}'" : a));
                if (r.GetValue(dryRun))
                {
                    context.Out.WriteLine(line);
                    continue;
                }
                context.Error.WriteLine($"== step '{step.Verb}' (line {step.Line}): {line}");
                context.Recipe = recipe.Text;
                int code;
                try
                {
                    code = verbs.Parse(args).Invoke(new InvocationConfiguration { Output = context.Out, Error = context.Error, EnableDefaultExceptionHandler = false });
                }
                catch (Exception e)
                {
                    code = Cli.Fail(e, context.Error);
                }
                // The step printed its own error; this adds where in the recipe it happened.
                if (code != 0) throw new SecateurException(Enum.IsDefined((ErrorCode)code) ? (ErrorCode)code : ErrorCode.BadArgument,
                    $"{recipe.Source}:{step.Line}: step '{step.Verb}' failed (exit code {code}); the steps before it completed");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// Every step's own checks before step 1, so that a mistake in the last step costs nothing: the model exists (or is
    /// a zoo name, or is written by an earlier step), the data set is one Secateur knows, and the verb's request holds.
    /// </summary>
    private static void Preflight(CliContext context, Recipe recipe, RootCommand verbs, IReadOnlyList<(RecipeStep Step, string[] Args)> plan)
    {
        var produced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (step, args) in plan)
        {
            var parse = verbs.Parse(args);
            var command = parse.CommandResult.Command;
            try
            {
                string? modelSpec = command.Arguments.FirstOrDefault(a => a.Name == "model") is Argument<string> model ? parse.GetValue(model) : null;
                if (modelSpec is not null && !produced.Contains(modelSpec)) CheckModel(modelSpec);
                // The other files a step reads: a baseline to time against, an archive, a report to render.
                if (command.Options.FirstOrDefault(o => o.Name == "--against") is Option<string?> against && parse.GetValue(against) is { } baseline && !produced.Contains(baseline))
                    CheckModel(baseline);
                foreach (var name in new[] { "archive", "report" })
                    if (command.Arguments.FirstOrDefault(a => a.Name == name) is Argument<string> file && parse.GetValue(file) is { } path && !produced.Contains(path) && !File.Exists(path))
                        throw new SecateurException(ErrorCode.BadFile, $"{name} file '{path}' does not exist");
                if (command.Options.FirstOrDefault(o => o.Name == "--data") is Option<string?> data && parse.GetValue(data) is { } set)
                    CheckData(set, command.Options.FirstOrDefault(o => o.Name == "--data-dir") is Option<string?> dir ? parse.GetValue(dir) : null);
                if (PreprocessOptions.Of(command) is { } preprocess)
                {
                    // What the model records is known for a file that exists now or a zoo model (nothing); a model an
                    // earlier step writes records what that step decides.
                    bool known = modelSpec is not null && !produced.Contains(modelSpec) && !modelSpec.EndsWith(".sct", StringComparison.OrdinalIgnoreCase);
                    preprocess.Check(parse, known ? Recorded(modelSpec!) : null, known);
                }
                if (context.Checks.TryGetValue(command.Name, out var check)) check(parse);
            }
            catch (SecateurException e)
            {
                throw new SecateurException(e.Code, $"{recipe.Source}:{step.Line}: step '{step.Verb}': {Cli.Describe(e)}; nothing was run");
            }
            // Files written by this step (its model, its report) do not exist yet: later steps may name them.
            foreach (var name in new[] { "--output", "--report" })
                if (command.Options.FirstOrDefault(o => o.Name == name) is Option<string?> output && parse.GetValue(output) is { } written)
                {
                    produced.Add(written);
                    // A .html or .md report is written with its .json beside it, which 'report' renders.
                    if (name == "--report") produced.Add(Path.ChangeExtension(written, ".json"));
                }
        }
    }

    // The description an existing .onnx file records (null for a zoo model, or a file that does not import: its step says why).
    private static InputPreprocessing? Recorded(string spec)
    {
        if (!File.Exists(spec) || !spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return null;
        try
        {
            return Secateur.Onnx.OnnxSerializer.Load(spec).Preprocessing;
        }
        catch (SecateurException)
        {
            return null;
        }
    }

    private static void CheckModel(string spec)
    {
        if (File.Exists(spec)) return;
        if (spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || spec.EndsWith(".sct", StringComparison.OrdinalIgnoreCase) || spec.Contains('/', StringComparison.Ordinal))
            throw new SecateurException(ErrorCode.BadFile, $"model file '{spec}' does not exist");
        if (Secateur.Models.ModelZoo.Find(spec) is null)
            throw new SecateurException(ErrorCode.BadArgument, $"'{spec}' is neither a file nor a zoo model; the zoo has: {string.Join(", ", Secateur.Models.ModelZoo.Names)}");
    }

    /// <summary>The data specification names a known kind and an existing directory, without loading any image.</summary>
    private static void CheckData(string spec, string? dataDir)
    {
        int colon = spec.IndexOf(':', StringComparison.Ordinal);
        var (kind, path) = colon > 1 ? (spec[..colon].ToLowerInvariant(), spec[(colon + 1)..]) : (spec.ToLowerInvariant(), dataDir);
        string[] kinds = ["fashion-mnist", "fashionmnist", "embedded", "fashion-mnist-mini", "mnist", "cifar10", "cifar100", "folder"];
        if (kinds.Contains(kind))
        {
            if (path is null && kind is "mnist" or "cifar10" or "cifar100" or "folder")
                throw new SecateurException(ErrorCode.BadArgument, $"{kind} needs a directory: {kind}:DIR", ParameterNames.Data);
            // fashion-mnist downloads itself when no directory is given; the others need theirs to exist.
            if (path is not null && !Directory.Exists(path) && kind is not ("embedded" or "fashion-mnist-mini"))
                throw new SecateurException(ErrorCode.BadFile, $"data directory '{path}' does not exist", ParameterNames.Data);
            return;
        }
        if (!Directory.Exists(spec))
            throw new SecateurException(ErrorCode.BadArgument, $"unknown dataset '{spec}'; use {DataSource.Forms}", ParameterNames.Data);
    }
}
