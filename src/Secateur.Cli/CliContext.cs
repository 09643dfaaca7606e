using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Secateur.Cli;

/// <summary>Where a verb writes: results to <see cref="Out"/>, progress and messages to <see cref="Error"/>.</summary>
public sealed class CliContext
{
    /// <summary>Creates a context over two writers.</summary>
    public CliContext(TextWriter output, TextWriter error)
    {
        Out = output;
        Error = error;
        bool terminal = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;
        _terminal = terminal;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        ProgressConsole = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(error),
            Ansi = ReferenceEquals(error, System.Console.Error) && !System.Console.IsErrorRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            Interactive = ReferenceEquals(error, System.Console.Error) && !System.Console.IsErrorRedirected ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    /// <summary>The recipe text when a verb runs as a step of <c>secateur run</c>; reports quote it.</summary>
    public string? Recipe { get; set; }

    /// <summary>
    /// Each verb's own checks of its options (by verb name), run by <c>secateur run</c> on every step before step 1:
    /// they build and validate what the verb would run without loading a model or data.
    /// </summary>
    public Dictionary<string, Action<System.CommandLine.ParseResult>> Checks { get; } = new(StringComparer.Ordinal);

    /// <summary>Standard output (results, tables, JSON).</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error (progress, notes).</summary>
    public TextWriter Error { get; }

    /// <summary>Spectre console over <see cref="Out"/>.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Spectre console over <see cref="Error"/>, for progress bars.</summary>
    public IAnsiConsole ProgressConsole { get; }

    /// <summary>
    /// The width tables are fitted to when standard output is a terminal (its width, 80 when unknown); null when it is
    /// not (a pipe, a file, a test), where tables are plain aligned text with every value whole.
    /// </summary>
    public int? TableWidth => _terminal ? Math.Max(40, Console.Profile.Width) : null;

    private readonly bool _terminal;

    /// <summary>True when progress can be drawn as a live bar (stderr is a terminal).</summary>
    public bool LiveProgress => ProgressConsole.Profile.Capabilities.Interactive;

    /// <summary>JSON settings for <c>--json</c> output.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Paths and commands are shown as typed ('a+b.onnx', not 'a\u002Bb.onnx'); the output is never embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes one JSON object to standard output.</summary>
    public void WriteJson(object value) => Out.WriteLine(JsonSerializer.Serialize(value, value.GetType(), Json));
}
