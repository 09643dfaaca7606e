using System.CommandLine;
using Secateur.Reporting;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur report</c>: re-renders a report from the JSON a run wrote (e.g. to get the HTML page later).</summary>
public static class ReportCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var input = new Argument<string>("report") { Description = "report JSON written by prune, sensitivity, … (--report x.json, or the .json beside an .html/.md report)" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write: .html (also .md beside it) or .md (default: the JSON's name with .html)" };
        var cmd = new Command("report", "render a run's report JSON as a self-contained HTML page (charts inline) and a Markdown summary") { input, output };
        cmd.SetAction(r =>
        {
            var from = r.GetValue(input)!;
            var report = ReportWriter.Load(from);
            var to = CommonOptions.NotAnInput(r.GetValue(output) ?? Path.ChangeExtension(from, ".html"), from);
            if (Path.GetExtension(to).Equals(".json", StringComparison.OrdinalIgnoreCase))
                throw new SecateurException(ErrorCode.BadArgument, "the report is already JSON; give an .html or .md output");
            // The page's JSON companion is written too, so the page's "figures beside it" note holds wherever it goes;
            // but never over the JSON it was read from (a verb's --json output would be lost).
            bool companion = !Path.GetFullPath(Path.ChangeExtension(to, ".json")).Equals(Path.GetFullPath(from), StringComparison.Ordinal);
            foreach (var f in ReportWriter.Write(report, to, companion)) context.Out.WriteLine($"wrote {f}");
            return 0;
        });
        return cmd;
    }
}
