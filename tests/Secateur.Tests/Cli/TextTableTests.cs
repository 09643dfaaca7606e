using Secateur.Cli;

namespace Secateur.Tests.Cli;

// The CLI's tables: one row per line at 80 columns on a terminal, plain aligned text with whole values otherwise.
public sealed class TextTableTests
{
    private static readonly string[] LongNames =
    [
        "/features/features.1/features.1.0/block/block.0/Conv",
        "/features/features.1/features.1.1/block/block.3/Gemm",
        "/features/features.2/features.2.0/Transpose_1_output_0",
    ];

    private static TextTable Sample()
    {
        var table = new TextTable("model: 1 prunable group, 2 blocked",
            new("group", Shrink: true), new("channels", Right: true), new("layers", Shrink: true), new("status"));
        foreach (var (name, i) in LongNames.Select((n, i) => (n, i)))
            table.Add(name, (8 << i).ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(", ", LongNames),
                i == 0 ? "prunable" : "blocked: '/features/features.0/features.0.1/Transpose' (Transpose) moves the channel axis (perm [0,2,3,1])");
        return table;
    }

    [Fact]
    public void On_an_80_column_terminal_every_line_fits_and_each_row_starts_one_line()
    {
        var lines = Sample().Render(80);
        lines.ShouldAllBe(l => l.Length <= 80);
        // Title, header, rule, then rows: a row's first line starts at column 0, its wrapped status lines are indented.
        var rowStarts = lines.Skip(3).Where(l => !l.StartsWith(' ')).ToList();
        rowStarts.Count.ShouldBe(3);
        rowStarts[0].ShouldStartWith("/fe");
        rowStarts[0].ShouldContain("…");
        rowStarts[0].ShouldContain("Conv ");                 // the distinguishing end of the name stays
        rowStarts[0].ShouldEndWith("prunable");
        // The wrapped reason keeps every word.
        string.Join(" ", lines.Skip(4).TakeWhile(l => l.StartsWith(' ') || l == rowStarts[1]).Select(l => l.Trim()))
            .ShouldContain("moves the channel axis");
    }

    [Fact]
    public void Without_a_terminal_values_are_whole_and_columns_aligned()
    {
        var lines = Sample().Render(null);
        lines.Count.ShouldBe(3 + 3);
        var header = lines[1];
        int channels = header.IndexOf("channels", StringComparison.Ordinal), layers = header.IndexOf("layers", StringComparison.Ordinal);
        foreach (var (row, name) in lines.Skip(3).Zip(LongNames))
        {
            row.ShouldStartWith(name);
            row.ShouldNotContain("…");
            row.Substring(layers).ShouldStartWith(LongNames[0]);              // the layers column starts where its header does
            row[channels + "channels".Length - 1].ShouldNotBe(' ');           // numbers right-aligned under their header
        }
    }

    [Theory]
    [InlineData("abcdefghijklmnopqrstuvwxyz", 10, "ab…tuvwxyz")]
    [InlineData("short", 10, "short")]
    public void Shorten_keeps_the_start_and_the_end(string value, int width, string expected)
    {
        var shortened = TextTable.Shorten(value, width);
        shortened.ShouldBe(expected);
        shortened.Length.ShouldBeLessThanOrEqualTo(width);
    }

    [Fact]
    public void Inspect_output_to_a_pipe_is_one_line_per_layer_with_whole_names()
    {
        var (code, output, _) = CliTests.Run("inspect", "resnet20");
        code.ShouldBe(0);
        var lines = output.Split('\n');
        lines.ShouldContain(l => l.StartsWith("layer1.0.conv1 ", StringComparison.Ordinal) || l.Contains("conv", StringComparison.OrdinalIgnoreCase));
        lines.ShouldNotContain(l => l.Contains('…'));
        lines.ShouldNotContain(l => l.Contains('│') || l.Contains('─'), "no box drawing in plain text");
    }
}
