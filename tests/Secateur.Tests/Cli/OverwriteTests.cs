using Secateur.Tests.Data;

namespace Secateur.Tests.Cli;

/// <summary>No command writes over its own input, and default output names do not collide with the files they came from.</summary>
[Trait("Category", TestCategories.Cli)]
public sealed class OverwriteTests
{
    [Fact]
    public void Decompress_without_an_output_keeps_the_dense_model_the_archive_was_made_from()
    {
        using var dir = new TempDir();
        var dense = Path.Combine(dir.Path, "lenet5.onnx");
        var archive = Path.Combine(dir.Path, "lenet5.sct");
        CliTests.Run("export", "lenet5", "-o", dense).Code.ShouldBe(0);
        CliTests.Run("compress", dense, "-o", archive).Code.ShouldBe(0);
        File.WriteAllText(dense, "the user's own file"); // whatever it holds, decompress must not replace it
        var (code, stdout, stderr) = CliTests.Run("decompress", archive);
        code.ShouldBe(0, stderr);
        File.ReadAllText(dense).ShouldBe("the user's own file");
        stdout.ShouldContain("lenet5.decompressed.onnx");
    }

    [Theory]
    [InlineData("decompress")]
    [InlineData("export")]
    [InlineData("prune")]
    public void Writing_over_the_command_s_own_input_is_refused(string verb)
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, verb == "decompress" ? "m.sct" : "m.onnx");
        var dense = Path.Combine(dir.Path, "dense.onnx");
        CliTests.Run("export", "lenet5", "-o", dense).Code.ShouldBe(0);
        if (verb == "decompress") CliTests.Run("compress", dense, "-o", file).Code.ShouldBe(0);
        else File.Copy(dense, file);
        var before = File.ReadAllBytes(file);
        string[] args = verb == "prune" ? [verb, file, "--speedup", "2", "-o", file] : [verb, file, "-o", file];
        var (code, _, stderr) = CliTests.Run(args);
        code.ShouldBe((int)ErrorCode.BadArgument, stderr);
        stderr.Trim().ShouldStartWith("error: ");
        stderr.ShouldContain("refusing to write over it");
        File.ReadAllBytes(file).ShouldBe(before);
    }
}
