using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Secateur.Reporting;

/// <summary>
/// Renders a <see cref="RunReport"/> as a self-contained HTML page (inline CSS and SVG charts: it opens offline and
/// runs no script), a Markdown summary for pull requests, and the JSON with every figure.
/// </summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a verb's JSON output may hold NaN
        // The .json file is data, not HTML: strings read as typed (no \u002B for '+'); the HTML page escapes for itself.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Writes the report chosen by <paramref name="path"/>'s extension and its companions beside it: <c>.html</c>
    /// writes the page, <c>.md</c> and <c>.json</c>; <c>.md</c> writes the Markdown and <c>.json</c>; <c>.json</c> only the JSON.
    /// </summary>
    /// <param name="report">The report.</param>
    /// <param name="path">The main file; its extension decides the format.</param>
    /// <param name="json">False: leave the <c>.json</c> companion out (when that file is the one the report was read from).</param>
    /// <returns>The files written.</returns>
    public static IReadOnlyList<string> Write(RunReport report, string path, bool json = true)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        var files = new List<(string Path, string Text)>();
        switch (ext)
        {
            case ".html" or ".htm":
                files.Add((path, Html(report)));
                files.Add((Path.ChangeExtension(path, ".md"), Markdown(report)));
                break;
            case ".md":
                files.Add((path, Markdown(report)));
                break;
            case ".json":
                break;
            default:
                throw new SecateurException(ErrorCode.BadArgument, $"report '{path}': the extension decides the format; use .html, .md or .json");
        }
        if (json || ext == ".json") files.Add((Path.ChangeExtension(path, ".json"), ToJson(report)));
        foreach (var (file, text) in files)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
            Directory.CreateDirectory(dir);
            File.WriteAllText(file, text, new UTF8Encoding(false));
        }
        return files.Select(f => f.Path).ToList();
    }

    /// <summary>The report as JSON (camelCase, indented).</summary>
    public static string ToJson(RunReport report) => JsonSerializer.Serialize(report, Json);

    /// <summary>
    /// Reads a report JSON written by <see cref="Write"/>, or the JSON any verb printed (prune, sparsify,
    /// quantize, sensitivity, eval, bench, train), turned into the report that verb's run would show.
    /// </summary>
    public static RunReport Load(string path)
    {
        if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"'{path}' does not exist");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (VerbReports.Recognise(doc.RootElement) is { } verb) return VerbReports.From(verb, doc.RootElement, Json);
            return doc.RootElement.Deserialize<RunReport>(Json) ?? throw new SecateurException(ErrorCode.BadFile, $"'{path}' is empty");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new SecateurException(ErrorCode.BadFile,
                $"'{path}' is neither a Secateur report JSON nor the JSON printed by {string.Join(", ", VerbReports.Verbs)}: {e.Message}");
        }
    }

    /// <summary>The self-contained HTML page.</summary>
    public static string Html(RunReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        static string E(string s) => WebUtility.HtmlEncode(s);
        var h = new StringBuilder();
        h.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Secateur {E(r.Kind)} report: {E(r.Model)}</title>
            <style>
            body {"{"} font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1000px; color: #1f2933; padding: 0 1rem; {"}"}
            h1 {"{"} font-size: 1.6rem; margin-bottom: .2rem; {"}"} h2 {"{"} font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e4e7eb; padding-bottom: .3rem; {"}"}
            table {"{"} border-collapse: collapse; margin: .5rem 0; {"}"} td, th {"{"} padding: .3rem .8rem; border-bottom: 1px solid #e4e7eb; text-align: right; {"}"}
            td:first-child, th:first-child {"{"} text-align: left; {"}"} .ratio {"{"} font-weight: 600; color: #2f7d32; {"}"}
            .chart {"{"} overflow-x: auto; margin: 1rem 0; {"}"} .chart svg {"{"} max-width: none; {"}"}
            pre {"{"} background: #f5f7fa; padding: .8rem; overflow-x: auto; white-space: pre-wrap; {"}"} .muted {"{"} color: #616e7c; {"}"}
            </style></head><body>
            <h1>{E(r.Model)}: {E(r.Kind)}</h1>
            <p class="muted">Secateur report, {r.Created.UtcDateTime:yyyy-MM-dd HH:mm} UTC</p>

            """);
        if (r.Summary.Count > 0)
        {
            h.AppendLine("<h2>Summary</h2><table id=\"summary\"><tr><th></th><th>before</th><th>after</th><th>before ÷ after</th></tr>");
            foreach (var m in r.Summary)
                h.AppendLine(CultureInfo.InvariantCulture, $"<tr><td>{E(m.Name)}</td><td>{E(Number(m, m.Before))}</td><td>{E(Number(m, m.After))}</td><td class=\"ratio\">{(m.Ratio is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "–")}</td></tr>");
            h.AppendLine("</table>");
        }
        if (r.Accuracy.Count > 0)
        {
            h.AppendLine("<h2>Accuracy</h2><table id=\"accuracy\">");
            foreach (var a in r.Accuracy) h.AppendLine(CultureInfo.InvariantCulture, $"<tr><td>{E(a.Stage)}</td><td>{a.Value:P2}</td></tr>");
            h.AppendLine("</table>");
        }
        if (r.Notes.Count > 0)
        {
            h.AppendLine("<ul>");
            foreach (var n in r.Notes) h.AppendLine(CultureInfo.InvariantCulture, $"<li>{E(n)}</li>");
            h.AppendLine("</ul>");
        }
        void Chart(string id, string title, string svg) =>
            h.AppendLine(CultureInfo.InvariantCulture, $"<h2>{E(title)}</h2><div class=\"chart\" id=\"{id}\">{StripXmlDeclaration(svg)}</div>");
        if (r.TradeOff.Count > 0) Chart("tradeoff", "Accuracy against MACs", Charts.TradeOff(r.TradeOff));
        if (r.Layers.Count > 0) Chart("layers", $"Where the {r.LayerUnit} went", Charts.Layers(r.Layers, r.LayerUnit));
        if (r.Sensitivity.Count > 0) Chart("sensitivity", "Sensitivity per group", Charts.Sensitivity(r.Sensitivity, r.SensitivityBaseline));
        if (r.Training.Count > 0) Chart("training", "Training", Charts.Training(r.Training));
        foreach (var t in r.Tables)
        {
            h.AppendLine(CultureInfo.InvariantCulture, $"<h2>{E(t.Title)}</h2><table><tr>{string.Concat(t.Columns.Select(c => $"<th>{E(c)}</th>"))}</tr>");
            foreach (var row in t.Rows) h.AppendLine(CultureInfo.InvariantCulture, $"<tr>{string.Concat(row.Select(c => $"<td>{E(c)}</td>"))}</tr>");
            h.AppendLine("</table>");
        }
        if (r.Layers.Count > 0)
        {
            h.AppendLine(CultureInfo.InvariantCulture, $"<h2>Layers</h2><table id=\"layer-table\"><tr><th>layer</th><th>{E(r.LayerUnit)} before</th><th>after</th></tr>");
            foreach (var l in r.Layers) h.AppendLine(CultureInfo.InvariantCulture, $"<tr><td>{E(l.Name)}</td><td>{l.Before:N0}</td><td>{l.After:N0}</td></tr>");
            h.AppendLine("</table>");
        }
        if (r.Command is not null) h.AppendLine(CultureInfo.InvariantCulture, $"<h2>Command</h2><pre id=\"command\">{E(r.Command)}</pre>");
        if (r.Recipe is not null) h.AppendLine(CultureInfo.InvariantCulture, $"<h2>Recipe</h2><pre id=\"recipe\">{E(r.Recipe)}</pre>");
        h.AppendLine("<p class=\"muted\">Every figure is also in the JSON file beside this page.</p></body></html>");
        return h.ToString();
    }

    /// <summary>The Markdown summary: the tables, no charts.</summary>
    public static string Markdown(RunReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# {r.Model}: {r.Kind}");
        md.AppendLine();
        if (r.Command is not null) md.AppendLine(CultureInfo.InvariantCulture, $"`{r.Command}`").AppendLine();
        if (r.Summary.Count > 0)
        {
            md.AppendLine("| | before | after | ratio |").AppendLine("|---|---|---|---|");
            foreach (var m in r.Summary)
                md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {Number(m, m.Before)} | {Number(m, m.After)} | {(m.Ratio is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-")} |");
            md.AppendLine();
        }
        foreach (var n in r.Notes) md.AppendLine(n).AppendLine();
        if (r.Accuracy.Count > 0)
        {
            md.AppendLine("| accuracy | |").AppendLine("|---|---|");
            foreach (var a in r.Accuracy) md.AppendLine(CultureInfo.InvariantCulture, $"| {a.Stage} | {a.Value:P2} |");
            md.AppendLine();
        }
        foreach (var t in r.Tables)
        {
            md.AppendLine(t.Title + ":").AppendLine();
            md.AppendLine("| " + string.Join(" | ", t.Columns) + " |").AppendLine("|" + string.Concat(t.Columns.Select(_ => "---|")));
            foreach (var row in t.Rows) md.AppendLine("| " + string.Join(" | ", row) + " |");
            md.AppendLine();
        }
        if (r.TradeOff.Count > 2)
        {
            md.AppendLine("| model | MACs | accuracy |").AppendLine("|---|---|---|");
            foreach (var p in r.TradeOff) md.AppendLine(CultureInfo.InvariantCulture, $"| {p.Label} | {p.Macs:N0} | {p.Accuracy:P2} |");
            md.AppendLine();
        }
        if (r.Layers.Count > 0)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| layer | {r.LayerUnit} before | after |").AppendLine("|---|---|---|");
            foreach (var l in r.Layers) md.AppendLine(CultureInfo.InvariantCulture, $"| {l.Name} | {l.Before:N0} | {l.After:N0} |");
            md.AppendLine();
        }
        if (r.Sensitivity.Count > 0)
        {
            var ratios = r.Sensitivity.SelectMany(c => c.Points.Select(p => p.Ratio)).Distinct().Order().ToList();
            md.AppendLine("Sensitivity (accuracy with one group pruned" + (r.SensitivityBaseline is { } b ? $"; baseline {b.ToString("P2", CultureInfo.InvariantCulture)}" : "") + "):").AppendLine();
            md.AppendLine("| group | channels | " + string.Join(" | ", ratios.Select(x => x.ToString("0.##", CultureInfo.InvariantCulture))) + " |");
            md.AppendLine("|---|---|" + string.Concat(ratios.Select(_ => "---|")));
            foreach (var c in r.Sensitivity)
                md.AppendLine(FormattableString.Invariant($"| {c.Group} | {c.Channels} | ") + string.Join(" | ", ratios.Select(x =>
                    c.Points.FirstOrDefault(p => p.Ratio == x) is { } p ? p.Accuracy.ToString("P2", CultureInfo.InvariantCulture) : "-")) + " |");
            md.AppendLine();
        }
        if (r.Training.Count > 0)
        {
            md.AppendLine("| epoch | train loss | train acc | test acc |").AppendLine("|---|---|---|---|");
            foreach (var e in r.Training)
                md.AppendLine(CultureInfo.InvariantCulture, $"| {e.Label} | {e.TrainLoss:0.0000} | {e.TrainAccuracy:P2} | {(e.TestAccuracy is { } t ? t.ToString("P2", CultureInfo.InvariantCulture) : "-")} |");
            md.AppendLine();
        }
        if (r.Recipe is not null) md.AppendLine("Recipe:").AppendLine().AppendLine("```yaml").AppendLine(r.Recipe.TrimEnd()).AppendLine("```");
        return md.ToString();
    }

    /// <summary>One of a measure's two values, both with one precision: counts as integers, anything else as <see cref="Wording.Format"/> of the pair.</summary>
    private static string Number(Measure m, double v)
    {
        static bool Whole(double x) => x == Math.Floor(x) && Math.Abs(x) < 1e15;
        var text = Whole(m.Before) && Whole(m.After)
            ? v.ToString("N0", CultureInfo.InvariantCulture)
            : v.ToString(Wording.Format([m.Before, m.After]), CultureInfo.InvariantCulture);
        return m.Unit.Length > 0 ? $"{text} {m.Unit}" : text;
    }

    private static string StripXmlDeclaration(string svg)
    {
        int i = svg.IndexOf("<svg", StringComparison.Ordinal);
        return i > 0 ? svg[i..] : svg;
    }
}
