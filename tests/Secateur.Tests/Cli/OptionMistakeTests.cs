namespace Secateur.Tests.Cli;

/// <summary>An option mistake is one <c>error:</c> line and exit 5 on every verb, never a help dump or a CLR type name.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class OptionMistakeTests
{
    [Theory]
    [InlineData("prune", "--speeed", "--speedup")]
    [InlineData("bench", "--runz", "--runs")]
    [InlineData("quantize", "--percentil", "--percentile")]
    public void An_unknown_option_is_one_line_with_the_nearest_option_of_the_verb(string verb, string typo, string meant)
    {
        var (code, stdout, stderr) = CliTests.Run(verb, "lenet5", typo, "2");
        code.ShouldBe((int)ErrorCode.BadArgument, stdout + stderr);
        stderr.Trim().ShouldBe($"error: unknown option '{typo}' (did you mean {meant}?)");
        stdout.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("prune", "--speedup", "abc", "a number")]
    [InlineData("bench", "--runs", "x", "a whole number")]
    public void A_bad_value_names_the_option_and_what_it_expects(string verb, string option, string value, string want)
    {
        var (code, stdout, stderr) = CliTests.Run(verb, "lenet5", option, value);
        code.ShouldBe((int)ErrorCode.BadArgument, stdout + stderr);
        stderr.Trim().ShouldBe($"error: {option} expects {want} (got '{value}')");
    }
}
