using System.Text;
using System.Text.RegularExpressions;

namespace Secateur.Tests.Docs;

/// <summary>A fenced block of a Markdown page: its info string, the line of its opening fence (1-based) and its lines.</summary>
internal sealed record FencedBlock(string Info, int FenceLine, IReadOnlyList<string> Lines, string? Before)
{
    /// <summary>Whether the info string marks the block as run by <see cref="DocsTests"/> (<c>sh runnable</c>).</summary>
    public bool Runnable
    {
        get
        {
            var words = Info.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return words.Length > 1 && words[0] == "sh" && words.Contains("runnable");
        }
    }
}

/// <summary>
/// The user documentation as the tests see it: README.md and every page directly in docs/ (docs/_incoming/ holds
/// drafts waiting to be placed and is left out), their fenced blocks, headings (with GitHub's anchor slugs) and links.
/// </summary>
internal static partial class DocPages
{
    /// <summary>Repository-relative paths (with '/') of the pages: README.md first, then docs/*.md in order.</summary>
    public static IReadOnlyList<string> All()
    {
        var root = LibraryWordingTests.RepositoryRoot();
        var pages = new List<string> { "README.md" };
        pages.AddRange(Directory.GetFiles(Path.Combine(root, "docs"), "*.md", SearchOption.TopDirectoryOnly)
            .Select(f => "docs/" + Path.GetFileName(f)).Order(StringComparer.Ordinal));
        return pages;
    }

    /// <summary>The lines of a page, by repository-relative path.</summary>
    public static string[] Lines(string page) =>
        File.ReadAllText(Path.Combine(LibraryWordingTests.RepositoryRoot(), page)).ReplaceLineEndings("\n").Split('\n');

    /// <summary>
    /// Every fenced block of <paramref name="lines"/> (``` or ~~~, three or more; a fence closes only with at least as
    /// many of the same character). <see cref="FencedBlock.Before"/> is the command of a
    /// <c>&lt;!-- runnable-before: … --&gt;</c> comment on the line right before the fence.
    /// </summary>
    public static List<FencedBlock> Blocks(string[] lines)
    {
        var blocks = new List<FencedBlock>();
        for (int i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success) continue;
            string fence = open.Groups[1].Value, info = open.Groups[2].Value.Trim();
            int start = i;
            var body = new List<string>();
            for (i++; i < lines.Length; i++)
            {
                var close = lines[i].TrimStart();
                if (close.StartsWith(fence, StringComparison.Ordinal) && close.TrimEnd().All(c => c == fence[0])) break;
                body.Add(lines[i]);
            }
            string? before = null;
            if (start > 0 && BeforeComment().Match(lines[start - 1]) is { Success: true } m) before = m.Groups[1].Value.Trim();
            blocks.Add(new FencedBlock(info, start + 1, body, before));
        }
        return blocks;
    }

    /// <summary>The lines outside fenced blocks, with their 1-based numbers.</summary>
    public static IEnumerable<(int Line, string Text)> Prose(string[] lines)
    {
        string? fence = null;
        for (int i = 0; i < lines.Length; i++)
        {
            if (fence is null)
            {
                var open = Fence().Match(lines[i]);
                if (open.Success) { fence = open.Groups[1].Value; continue; }
                yield return (i + 1, lines[i]);
            }
            else
            {
                var close = lines[i].TrimStart();
                if (close.StartsWith(fence, StringComparison.Ordinal) && close.TrimEnd().All(c => c == fence[0])) fence = null;
            }
        }
    }

    /// <summary>The anchors GitHub gives the headings of a page (lower case, punctuation dropped, spaces to '-', repeats numbered).</summary>
    public static HashSet<string> Anchors(string[] lines)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, text) in Prose(lines))
        {
            var heading = Heading().Match(text);
            if (!heading.Success) continue;
            var slug = Slug(heading.Groups[1].Value);
            if (seen.TryGetValue(slug, out int n)) { seen[slug] = n + 1; slug = $"{slug}-{n + 1}"; }
            else seen[slug] = 0;
            anchors.Add(slug);
        }
        return anchors;
    }

    /// <summary>GitHub's heading slug: markup dropped, lower case, letters, digits, '-', '_' and spaces kept, spaces to '-'.</summary>
    public static string Slug(string heading)
    {
        var text = MarkdownLink().Replace(heading, "$1").Replace("`", "", StringComparison.Ordinal).Trim().ToLowerInvariant();
        var slug = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsLetterOrDigit(c) || c == '-' || c == '_') slug.Append(c);
            else if (c == ' ') slug.Append('-');
        }
        return slug.ToString();
    }

    /// <summary>The link targets of a page's prose (inline code left out), with their lines.</summary>
    public static IEnumerable<(int Line, string Target)> Links(string[] lines)
    {
        foreach (var (line, text) in Prose(lines))
        {
            var prose = InlineCode().Replace(text, "");
            foreach (Match link in LinkTarget().Matches(prose)) yield return (line, link.Groups[1].Value);
        }
    }

    [GeneratedRegex(@"^\s{0,3}(`{3,}|~{3,})(.*)$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^\s*<!--\s*runnable-before:(.*?)-->\s*$")]
    private static partial Regex BeforeComment();

    [GeneratedRegex(@"^#{1,6}\s+(.*?)\s*#*\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"\[([^\]]*)\]\([^)]*\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"`+[^`]*`+")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"\]\(\s*<?([^)\s>]+)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex LinkTarget();
}
