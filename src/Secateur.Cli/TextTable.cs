using System.Text;

namespace Secateur.Cli;

/// <summary>One column of a <see cref="TextTable"/>.</summary>
/// <param name="Header">Header text.</param>
/// <param name="Right">Right-aligned (numbers).</param>
/// <param name="Shrink">
/// May be shortened to fit a terminal: long values lose their middle ("/features/…/conv2/Conv"), so both the start and
/// the distinguishing end of a node name stay visible.
/// </param>
internal sealed record TextColumn(string Header, bool Right = false, bool Shrink = false);

/// <summary>
/// The CLI's tables (inspect, the pruning pre-flight): on a terminal, fitted to its width — shrinkable columns lose the
/// middle of long values, and the last column wraps onto indented continuation lines — so one row stays one row at 80
/// columns; when standard output is not a terminal, plain text in aligned columns with every value whole, for scripts
/// and logs. Plain text only: no markup, no borders.
/// </summary>
internal sealed class TextTable(string? title, params TextColumn[] columns)
{
    private const int Gap = 2;
    private const int MinShrunk = 18;
    private const int MinLast = 20;
    private readonly List<string[]?> _rows = [];

    /// <summary>Adds a row (one value per column; missing values are empty).</summary>
    public TextTable Add(params string[] cells)
    {
        if (cells.Length > columns.Length) throw new ArgumentException($"{cells.Length} values for {columns.Length} columns", nameof(cells));
        _rows.Add([.. cells, .. Enumerable.Repeat("", columns.Length - cells.Length)]);
        return this;
    }

    /// <summary>Adds an empty line (e.g. before a total row).</summary>
    public TextTable AddBlank()
    {
        _rows.Add(null);
        return this;
    }

    /// <summary>Writes the table: fitted to <see cref="CliContext.TableWidth"/> on a terminal, plain otherwise.</summary>
    public void Write(CliContext context)
    {
        foreach (var line in Render(context.TableWidth)) context.Out.WriteLine(line);
    }

    /// <summary>The table's lines, fitted to <paramref name="width"/> columns, or plain when it is null.</summary>
    public IReadOnlyList<string> Render(int? width)
    {
        var widths = columns.Select((c, i) => _rows.Where(r => r is not null).Select(r => r![i].Length).Append(c.Header.Length).Max()).ToArray();
        if (width is { } limit) Fit(widths, limit);
        var lines = new List<string>();
        if (!string.IsNullOrEmpty(title)) lines.Add(title);
        lines.Add(Line(columns.Select(c => c.Header).ToArray(), widths));
        lines.Add(string.Join(new string(' ', Gap), widths.Select(w => new string('-', w))));
        foreach (var row in _rows)
        {
            if (row is null) { lines.Add(""); continue; }
            var cells = row.Select((v, i) => width is not null && columns[i].Shrink && i < columns.Length - 1 ? Shorten(v, widths[i]) : v).ToArray();
            if (width is null) { lines.Add(Line(cells, widths)); continue; }
            // The last column wraps: its first piece on the row's line, the rest on lines indented to its start.
            var last = Wrap(cells[^1], widths[^1]);
            cells[^1] = last[0];
            lines.Add(Line(cells, widths));
            int indent = widths[..^1].Sum() + Gap * (widths.Length - 1);
            lines.AddRange(last.Skip(1).Select(piece => new string(' ', indent) + piece));
        }
        return lines;
    }

    /// <summary>Narrows the widths until the table fits: first the shrinkable columns, widest first, then the last one.</summary>
    private void Fit(int[] widths, int limit)
    {
        int Total() => widths.Sum() + Gap * (widths.Length - 1);
        if (Total() <= limit) return;
        // The last column wraps, so it gives way first, down to a share of the width that keeps its lines readable.
        widths[^1] = Math.Max(Math.Min(widths[^1], Math.Max(MinLast, limit * 2 / 5)), widths[^1] - (Total() - limit));
        while (Total() > limit)
        {
            int widest = -1;
            for (int i = 0; i < widths.Length - 1; i++)
                if (columns[i].Shrink && widths[i] > MinShrunk && (widest < 0 || widths[i] > widths[widest])) widest = i;
            if (widest < 0) break;
            widths[widest] = Math.Max(MinShrunk, widths[widest] - (Total() - limit));
        }
        if (Total() > limit) widths[^1] = Math.Max(Math.Min(MinLast, widths[^1]), widths[^1] - (Total() - limit));
    }

    private string Line(string[] cells, int[] widths)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < cells.Length; i++)
        {
            if (i > 0) sb.Append(' ', Gap);
            bool last = i == cells.Length - 1;
            if (columns[i].Right) sb.Append(cells[i].PadLeft(widths[i]));
            else sb.Append(last ? cells[i] : cells[i].PadRight(widths[i]));
        }
        return sb.ToString().TrimEnd();
    }

    /// <summary>Keeps the start and the end of <paramref name="value"/> with "…" between, in <paramref name="width"/> characters.</summary>
    internal static string Shorten(string value, int width)
    {
        if (value.Length <= width) return value;
        if (width <= 1) return value[..width];
        int head = Math.Max(1, (width - 1) / 4), tail = width - 1 - head;
        return value[..head] + "…" + value[^tail..];
    }

    /// <summary>Breaks <paramref name="value"/> into pieces of at most <paramref name="width"/> characters, at spaces where it can.</summary>
    internal static List<string> Wrap(string value, int width)
    {
        var pieces = new List<string>();
        var rest = value;
        while (rest.Length > width)
        {
            int cut = rest.LastIndexOf(' ', Math.Min(width, rest.Length - 1));
            if (cut <= 0) cut = width;
            pieces.Add(rest[..cut].TrimEnd());
            rest = rest[cut..].TrimStart();
        }
        pieces.Add(rest);
        return pieces;
    }
}
