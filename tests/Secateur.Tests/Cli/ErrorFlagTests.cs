using System.CommandLine;
using Secateur.Cli;

namespace Secateur.Tests.Cli;

/// <summary>The library names the offending parameter; the CLI, and only the CLI, spells it as a flag.</summary>
public sealed class ErrorFlagTests
{
    [Fact]
    public void A_dataset_form_without_its_directory_names_the_data_flag()
    {
        // The same failure the library reports as "cifar10 needs a directory: cifar10:DIR" with Parameter "Data".
        var (code, _, error) = CliTests.Run("prune", "lenet5", "--data", "cifar10", "--speedup", "2");
        code.ShouldBe((int)ErrorCode.BadArgument, error);
        error.TrimEnd().ShouldBe("error: cifar10 needs a directory: cifar10:DIR (--data)");
    }

    [Fact]
    public void An_unknown_dataset_names_the_data_flag_on_one_line()
    {
        var (code, _, error) = CliTests.Run("eval", "lenet5", "--data", "nosuchdata");
        code.ShouldBe((int)ErrorCode.BadArgument, error);
        error.Trim().Split('\n').Length.ShouldBe(1);
        error.ShouldStartWith("error: unknown dataset 'nosuchdata'");
        error.TrimEnd().ShouldEndWith("(--data)");
    }

    [Fact]
    public void Two_targets_name_every_target_flag()
    {
        var (code, _, error) = CliTests.Run("prune", "lenet5", "--speedup", "2", "--ratio", "0.5");
        code.ShouldBe((int)ErrorCode.BadArgument, error);
        error.TrimEnd().ShouldEndWith("(--ratio, --speedup, --macs, --params or --target-latency)");
    }

    [Fact]
    public void An_out_of_range_value_names_its_flag()
    {
        var (code, _, error) = CliTests.Run("prune", "lenet5", "--speedup", "0.5");
        code.ShouldBe((int)ErrorCode.BadArgument, error);
        error.TrimEnd().ShouldBe("error: the speed-up must be at least 1 (got 0.5) (--speedup)");
    }

    [Fact]
    public void Unknown_or_absent_parameters_leave_the_message_alone()
    {
        Secateur.Cli.Cli.Describe(new SecateurException(ErrorCode.BadArgument, "bad thing", "NoSuchParameter")).ShouldBe("bad thing");
        Secateur.Cli.Cli.Describe(new SecateurException(ErrorCode.BadArgument, "bad thing")).ShouldBe("bad thing");
        Secateur.Cli.Cli.Describe(new SecateurException(ErrorCode.BadArgument, "needs data", ParameterNames.Data)).ShouldBe("needs data (--data)");
    }

    [Fact]
    public void Every_mapped_flag_is_an_option_of_some_verb()
    {
        var root = Secateur.Cli.Cli.Root(new CliContext(TextWriter.Null, TextWriter.Null));
        var spelled = new HashSet<string>(StringComparer.Ordinal);
        void Collect(Command command)
        {
            foreach (var option in command.Options)
            {
                spelled.Add(option.Name);
                spelled.UnionWith(option.Aliases);
            }
            foreach (var sub in command.Subcommands) Collect(sub);
        }
        Collect(root);
        var flags = Secateur.Cli.Cli.Flags.Values
            .SelectMany(v => v.Replace(" or ", ", ", StringComparison.Ordinal).Split(", ")).ToList();
        flags.Count.ShouldBeGreaterThan(Secateur.Cli.Cli.Flags.Count);
        flags.Where(f => !spelled.Contains(f)).ShouldBeEmpty();
    }
}
