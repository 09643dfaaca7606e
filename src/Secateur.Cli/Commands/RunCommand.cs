using System.CommandLine;
using Secateur.Cli.Recipes;

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
}
