using System.Text;
using System.Text.RegularExpressions;
using Secateur.Deployment;
using Secateur.Pruning;
using Secateur.Training;

namespace Secateur.Tests;

/// <summary>
/// The library does not speak CLI: no string literal or XML doc comment in <c>src/Secateur</c> names a command-line
/// flag. A failure names the offending options property in <see cref="SecateurException.Parameter"/> instead, and the
/// CLI spells it (<c>Cli.Describe</c>).
/// </summary>
public sealed partial class LibraryWordingTests
{
    // "--data", "--round-to": two dashes then a letter, not preceded by a word character or another dash.
    [GeneratedRegex(@"(?<![\w-])--[A-Za-z][A-Za-z0-9-]*")]
    private static partial Regex FlagToken();

    /// <summary>Literals that may keep a flag-looking token, with the reason. None today; keep it that way if you can.</summary>
    private static readonly HashSet<string> Allowed = new(StringComparer.Ordinal);

    [Fact]
    public void No_library_string_literal_or_doc_comment_names_a_command_line_flag()
    {
        var library = Path.Combine(RepositoryRoot(), "src", "Secateur");
        var files = Directory.GetFiles(library, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj")).ToList();
        // Not vacuous: the scan sees the library, including the files that used to name flags.
        files.Count.ShouldBeGreaterThan(50);
        files.ShouldContain(f => f.EndsWith(Path.Combine("Pruning", "Allocation.cs"), StringComparison.Ordinal));

        var offences = new List<string>();
        foreach (var file in files)
            foreach (var (line, text) in Texts(File.ReadAllText(file)))
                foreach (Match m in FlagToken().Matches(text))
                    if (!Allowed.Contains(text))
                        offences.Add($"{Path.GetRelativePath(library, file)}:{line}: {m.Value} in \"{text}\"");
        offences.ShouldBeEmpty(string.Join(Environment.NewLine, offences));
    }

    [Fact]
    public void The_scan_finds_flags_in_every_kind_of_literal_and_doc_comment_but_not_in_code_or_plain_comments()
    {
        const string source = """"
            /// <summary>Resolves the <c>--doc</c> option.</summary>
            class C
            {
                // a plain comment may say --plain
                /* and so may --block */
                char q = '"';
                string a = "give --regular";
                string b = @"verbatim ""--verbatim""";
                string c = $"interpolated {string.Join(", ", names)} --interpolated {x}";
                string d = $@"{(y ? "--nested" : "z")}";
                string e = """
                    raw --raw
                    """;
                void M() { if (--count == 0) return; var s = "a-b--c"; }
            }
            """";
        var found = Texts(source)
            .SelectMany(t => FlagToken().Matches(t.Text).Select(m => m.Value)).ToList();
        found.ShouldBe(["--doc", "--regular", "--verbatim", "--interpolated", "--nested", "--raw"]);
    }

    [Fact]
    public void Thread_counts_of_zero_are_allowed_and_the_message_says_so()
    {
        new LatencyBudget(1, Threads: 0).Validated().Threads.ShouldBe(0);
        new SessionSettings(0).Validated().Threads.ShouldBe(0);
        foreach (var e in new[]
        {
            Should.Throw<SecateurException>(() => new LatencyBudget(1, Threads: -1).Validated()),
            Should.Throw<SecateurException>(() => new SessionSettings(-1).Validated()),
        })
        {
            e.Code.ShouldBe(ErrorCode.BadArgument);
            e.Message.ShouldBe("the thread count must be at least 0, where 0 means one per core (got -1)");
            e.Parameter.ShouldBe(nameof(SessionSettings.Threads));
        }
    }

    [Fact]
    public void Target_and_allocation_errors_name_the_options_property()
    {
        Parameter(() => new PruningTarget { Speedup = 2, Ratio = 0.5 }.Validated()).ShouldBe(nameof(PruningOptions.Target));
        Parameter(() => new PruningTarget().Validated()).ShouldBe(nameof(PruningOptions.Target));
        Parameter(() => new PruningTarget { Speedup = 0.5 }.Validated()).ShouldBe(nameof(PruningTarget.Speedup));
        Parameter(() => new PruningTarget { Ratio = 1 }.Validated()).ShouldBe(nameof(PruningTarget.Ratio));
        Parameter(() => new PruningTarget { Macs = 0 }.Validated()).ShouldBe(nameof(PruningTarget.Macs));
        Parameter(() => new PruningTarget { Params = 0 }.Validated()).ShouldBe(nameof(PruningTarget.Params));
        Parameter(() => new AllocationOptions(RoundTo: 0).Validated()).ShouldBe(nameof(AllocationOptions.RoundTo));
        Parameter(() => new ScheduleOptions(Steps: 0).Validated()).ShouldBe(nameof(ScheduleOptions.Steps));
        Parameter(() => new TrainingOptions { Resume = true }.Validated()).ShouldBe(nameof(TrainingOptions.CheckpointPath));
    }

    private static string? Parameter(Action act)
    {
        var e = Should.Throw<SecateurException>(act);
        e.Code.ShouldBe(ErrorCode.BadArgument);
        return e.Parameter;
    }

    /// <summary>The directory holding <c>Secateur.sln</c>, found by walking up from the test's base directory.</summary>
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Secateur.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Secateur.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>
    /// The text of every string literal (regular, verbatim, interpolated, raw; interpolation holes are lexed as code,
    /// so strings nested in them are literals of their own) and every XML doc comment of C# <paramref name="source"/>,
    /// with the line each starts on. Plain comments, character literals and code are skipped.
    /// </summary>
    internal static List<(int Line, string Text)> Texts(string source)
    {
        var found = new List<(int, string)>();
        int i = 0;
        LexCode(source, ref i, found, inHole: false);
        return found;
    }

    private static int LineAt(string s, int index)
    {
        int line = 1;
        for (int k = 0; k < index && k < s.Length; k++) if (s[k] == '\n') line++;
        return line;
    }

    // Lexes code until the end of the source or, inside an interpolation hole, until its closing brace.
    private static void LexCode(string s, ref int i, List<(int, string)> found, bool inHole)
    {
        int depth = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '/' && At(s, i + 1, '/'))
            {
                int start = i;
                int end = s.IndexOf('\n', i);
                if (end < 0) end = s.Length;
                if (At(s, i + 2, '/')) found.Add((LineAt(s, start), s[(i + 3)..end].Trim()));
                i = end;
            }
            else if (c == '/' && At(s, i + 1, '*'))
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? s.Length : end + 2;
            }
            else if (c == '\'')
            {
                // A character literal: '"', '\'', '\\', '\u0022'.
                i++;
                while (i < s.Length && s[i] != '\'') i += s[i] == '\\' ? 2 : 1;
                i++;
            }
            else if (c is '"' or '$' or '@' && StringStart(s, i) is var (dollars, verbatim, quotes, after) && quotes > 0)
            {
                int start = i;
                i = after;
                var text = new StringBuilder();
                LexString(s, ref i, found, dollars, verbatim, quotes, text);
                found.Add((LineAt(s, start), text.ToString()));
            }
            else if (inHole && c == '{') { depth++; i++; }
            else if (inHole && c == '}')
            {
                if (depth == 0) { i++; return; }
                depth--;
                i++;
            }
            else i++;
        }
    }

    // At s[i]: a string literal's prefix ($..., @) and opening quotes, or quotes = 0 when none starts here.
    private static (int Dollars, bool Verbatim, int Quotes, int After) StringStart(string s, int i)
    {
        if (i > 0 && (char.IsLetterOrDigit(s[i - 1]) || s[i - 1] == '_') && s[i] != '"') return (0, false, 0, i);
        int j = i, dollars = 0;
        bool verbatim = false;
        while (j < s.Length && (s[j] == '$' || s[j] == '@'))
        {
            if (s[j] == '$') dollars++; else verbatim = true;
            j++;
        }
        int quotes = 0;
        while (j + quotes < s.Length && s[j + quotes] == '"') quotes++;
        if (quotes == 0) return (0, false, 0, i);
        // "" is an empty regular string; three or more quotes open a raw string.
        if (quotes == 2) quotes = 1;
        else if (quotes > 3 || (quotes == 3 && !verbatim)) { }
        else if (quotes == 3 && verbatim) quotes = 1;
        return (dollars, verbatim, quotes, j + quotes);
    }

    // Reads a string body from s[i] (just after the opening quotes) to just after its closing quotes.
    private static void LexString(string s, ref int i, List<(int, string)> found, int dollars, bool verbatim, int quotes, StringBuilder text)
    {
        bool raw = quotes >= 3;
        while (i < s.Length)
        {
            char c = s[i];
            if (raw)
            {
                if (c == '"' && Count(s, i, '"') >= quotes) { i += quotes; return; }
            }
            else if (verbatim)
            {
                if (c == '"' && At(s, i + 1, '"')) { text.Append('"'); i += 2; continue; }
                if (c == '"') { i++; return; }
            }
            else
            {
                if (c == '\\') { text.Append(c); if (i + 1 < s.Length) text.Append(s[i + 1]); i += 2; continue; }
                if (c == '"') { i++; return; }
            }
            if (dollars > 0 && c == '{')
            {
                int braces = Count(s, i, '{');
                if (!raw && braces >= 2) { text.Append('{'); i += 2; continue; }
                if (!raw || braces >= dollars)
                {
                    // An interpolation hole: code, whose own strings are literals of their own.
                    i += raw ? dollars : 1;
                    text.Append("{…}");
                    LexCode(s, ref i, found, inHole: true);
                    continue;
                }
            }
            text.Append(c);
            i++;
        }
    }

    private static bool At(string s, int i, char c) => i < s.Length && s[i] == c;

    private static int Count(string s, int i, char c)
    {
        int n = 0;
        while (i + n < s.Length && s[i + n] == c) n++;
        return n;
    }
}
