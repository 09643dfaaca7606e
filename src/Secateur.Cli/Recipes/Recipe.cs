using System.CommandLine;
using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Secateur.Cli.Recipes;

/// <summary>One option (or the model argument) of a recipe step, with the line it came from.</summary>
/// <param name="Key">The option's name without dashes (<c>speedup</c>), or an argument's name (<c>model</c>).</param>
/// <param name="Values">Its value(s) as text; several for list options such as <c>exclude</c>.</param>
/// <param name="Line">1-based line in the recipe file.</param>
public sealed record RecipeField(string Key, IReadOnlyList<string> Values, int Line);

/// <summary>One step: a <c>secateur</c> verb and its fields, run in the order of the file.</summary>
public sealed record RecipeStep(string Verb, int Line, IReadOnlyList<RecipeField> Fields);

/// <summary>
/// A whole pipeline as a YAML file. Top-level sections are verbs (<c>train</c>, <c>prune</c>, <c>sensitivity</c>, …)
/// run in file order; their keys are the verb's command-line options without the dashes, so every CLI option is a
/// recipe field and every field a CLI option. Top-level scalars (<c>model</c>, <c>data</c>, <c>seed</c>, …) are
/// defaults for every step that has that option. The model flows: a step that writes a model (<c>output</c>) hands
/// it to the next step that takes one.
/// </summary>
public sealed class Recipe
{
    private Recipe(string source, string text, IReadOnlyList<RecipeField> defaults, IReadOnlyList<RecipeStep> steps)
    {
        Source = source;
        Text = text;
        Defaults = defaults;
        Steps = steps;
    }

    /// <summary>Keys allowed at the top level that are not options: documentation only.</summary>
    public static readonly IReadOnlySet<string> Comments = new HashSet<string>(["description", "name"], StringComparer.Ordinal);

    /// <summary>The file the recipe came from (for messages).</summary>
    public string Source { get; }

    /// <summary>The recipe's text, as written (reports quote it).</summary>
    public string Text { get; }

    /// <summary>Top-level defaults.</summary>
    public IReadOnlyList<RecipeField> Defaults { get; }

    /// <summary>The steps in order.</summary>
    public IReadOnlyList<RecipeStep> Steps { get; }

    /// <summary>Reads a recipe file; syntax errors name the line.</summary>
    public static Recipe Load(string path)
    {
        if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"recipe '{path}' does not exist");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses recipe text; <paramref name="source"/> names it in messages.</summary>
    public static Recipe Parse(string text, string source)
    {
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new SecateurException(ErrorCode.BadArgument, $"{source}:{e.Start.Line}: not valid YAML: {e.InnerException?.Message ?? e.Message}");
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new SecateurException(ErrorCode.BadArgument, $"{source}: a recipe is a YAML mapping of defaults (model, data, …) and steps (train, prune, …)");
        var defaults = new List<RecipeField>();
        var steps = new List<RecipeStep>();
        foreach (var (k, v) in root.Children)
        {
            var key = Key(k, source);
            int line = (int)k.Start.Line;
            if (v is YamlMappingNode section)
            {
                // (Keys set twice are rejected by the YAML parser itself, with their line.)
                var fields = section.Children.Select(kv => Field(Key(kv.Key, source), kv.Value, (int)kv.Key.Start.Line, source, $"{key}.")).ToList();
                steps.Add(new RecipeStep(key, line, fields));
            }
            else if (v is YamlScalarNode { Value: null or "" } && !Comments.Contains(key))
                steps.Add(new RecipeStep(key, line, [])); // "bench:" with nothing under it: the step with its defaults
            else defaults.Add(Field(key, v, line, source, ""));
        }
        return new Recipe(source, text, defaults, steps);
    }

    private static string Key(YamlNode node, string source) => node is YamlScalarNode { Value: { Length: > 0 } s }
        ? s : throw At(source, (int)node.Start.Line, "a key must be a plain name");

    private static RecipeField Field(string key, YamlNode value, int line, string source, string prefix) => value switch
    {
        YamlScalarNode s => new RecipeField(key, [s.Value ?? ""], line),
        YamlSequenceNode seq => new RecipeField(key, seq.Children.Select(c => c is YamlScalarNode cs ? cs.Value ?? ""
            : throw At(source, (int)c.Start.Line, $"'{prefix}{key}' lists values; each must be a plain value")).ToList(), line),
        _ => throw At(source, line, $"'{prefix}{key}' must be a value or a list of values, not a mapping"),
    };

    internal static SecateurException At(string source, int line, string message) => new(ErrorCode.BadArgument, $"{source}:{line}: {message}");

    /// <summary>
    /// The command line of every step, checked against the verbs: unknown verbs and keys, wrong types and values are
    /// errors naming the key and its line. The model flows from each step's output to the next step's model.
    /// </summary>
    public IReadOnlyList<(RecipeStep Step, string[] Args)> Plan(RootCommand root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var verbs = root.Subcommands.Where(c => c.Name is not ("run" or "demo")).ToDictionary(c => c.Name, StringComparer.Ordinal);
        if (Steps.Count == 0) throw new SecateurException(ErrorCode.BadArgument, $"{Source}: the recipe has no steps; add one of: {string.Join(", ", verbs.Keys)}");
        foreach (var step in Steps.Where(s => !verbs.ContainsKey(s.Verb)))
            throw At(Source, step.Line, $"unknown step '{step.Verb}'{Closest(verbs.Keys, step.Verb, "; steps are verbs: ")}");
        foreach (var d in Defaults.Where(d => !Comments.Contains(d.Key)))
            if (!Steps.Any(s => verbs.TryGetValue(s.Verb, out var c) && Find(c, d.Key) is not null))
                throw At(Source, d.Line, $"no step of this recipe has an option '{d.Key}'");
        string? model = null;
        var plan = new List<(RecipeStep, string[])>();
        // Models handed from step to step are written beside the recipe.
        string stem = Path.Combine(Path.GetDirectoryName(Source) ?? "", Path.GetFileNameWithoutExtension(Source));
        foreach (var step in Steps)
        {
            var command = verbs[step.Verb];
            var fields = step.Fields.ToList();
            foreach (var d in Defaults.Where(d => !Comments.Contains(d.Key) && Find(command, d.Key) is not null && fields.All(f => f.Key != d.Key)))
                if (d.Key != "model" || model is null) fields.Add(d);
            // The model flows from the previous step that wrote one, unless this step names its own.
            if (model is not null && Find(command, "model") is not null && fields.All(f => f.Key != "model"))
                fields.Insert(0, new RecipeField("model", [model], step.Line));
            // A model-writing step hands its result on under a predictable name when a later step needs it.
            if (!ReferenceEquals(step, Steps[^1]) && Find(command, "output") is Option && fields.All(f => f.Key != "output") && Find(command, "model") is not null)
                fields.Add(new RecipeField("output", [$"{stem}.{step.Verb}.onnx"], step.Line));
            var args = new List<string> { step.Verb };
            foreach (var f in fields)
            {
                var symbol = Find(command, f.Key) ?? throw At(Source, f.Line, $"'{step.Verb}' has no option '{f.Key}'{Suggest(command, f.Key)}");
                var own = Args(symbol, f, step.Verb);
                // Each field alone first, so a wrong value is reported at its own line.
                var alone = command.Parse([.. Required(command, symbol), .. own]);
                if (alone.Errors.Count > 0) throw At(Source, f.Line, $"{step.Verb}.{f.Key}: {Friendly(alone.Errors[0].Message, symbol, f)}");
                args.AddRange(own);
            }
            var whole = root.Parse(args);
            if (whole.Errors.Count > 0) throw At(Source, step.Line, $"step '{step.Verb}': {whole.Errors[0].Message}");
            plan.Add((step, args.ToArray()));
            if (fields.FirstOrDefault(f => f.Key == "output") is { } o && Find(command, "model") is not null && o.Values.Count == 1 && !IsReport(o.Values[0]))
                model = o.Values[0];
        }
        return plan;
    }

    private static bool IsReport(string path) => Path.GetExtension(path) is ".html" or ".md" or ".json";

    /// <summary>Placeholder values for the command's required arguments, so one field can be parsed on its own.</summary>
    private static IEnumerable<string> Required(Command command, Symbol except) =>
        command.Arguments.Where(a => !ReferenceEquals(a, except) && !a.HasDefaultValue).Select(_ => "placeholder");

    private static IEnumerable<string> Args(Symbol symbol, RecipeField f, string verb)
    {
        switch (symbol)
        {
            case Argument:
                return f.Values;
            case Option o when o.ValueType == typeof(bool):
                if (f.Values.Count != 1 || !bool.TryParse(f.Values[0], out var on))
                    throw new SecateurException(ErrorCode.BadArgument, $"{verb}.{f.Key} is true or false, not '{string.Join(", ", f.Values)}'");
                return on ? [o.Name] : [];
            case Option o when o.ValueType.IsArray:
                return f.Values.SelectMany(v => new[] { o.Name, v });
            case Option o:
                if (f.Values.Count != 1) throw new SecateurException(ErrorCode.BadArgument, $"{verb}.{f.Key} takes one value, not a list");
                return [o.Name, f.Values[0]];
            default:
                throw new InvalidOperationException(symbol.GetType().Name);
        }
    }

    /// <summary>The option <c>--key</c> or the argument <c>key</c> of <paramref name="command"/>.</summary>
    internal static Symbol? Find(Command command, string key) =>
        (Symbol?)command.Options.FirstOrDefault(o => o.Name == "--" + key || o.Aliases.Contains("--" + key))
        ?? command.Arguments.FirstOrDefault(a => a.Name == key);

    // The parser's conversion messages name CLR types (Nullable`1[System.Double]); say what the field wants instead.
    private static string Friendly(string message, Symbol symbol, RecipeField f)
    {
        if (!message.StartsWith("Cannot parse argument", StringComparison.Ordinal) || symbol is not Option o) return message;
        return $"'{string.Join(", ", f.Values)}' is not {Want(o)}";
    }

    private static string Suggest(Command command, string key) =>
        Closest(command.Options.Select(o => o.Name.TrimStart('-')).Concat(command.Arguments.Select(a => a.Name)).Where(n => n is not ("help" or "version")), key, "; its options: ");

    private static string Closest(IEnumerable<string> names, string key, string otherwise)
    {
        var list = names.ToList();
        var close = Nearest(list, key);
        return close is not null ? $"; did you mean '{close}'?" : otherwise + string.Join(", ", list);
    }

    /// <summary>The name nearest <paramref name="key"/>, or null when none is near: the recipe and the command line suggest alike.</summary>
    internal static string? Nearest(IEnumerable<string> names, string key) =>
        // Near by edit distance, a shared beginning counting for more (speeed → speedup, not seed).
        names.Select(n => (n, d: Distance(n, key), p: n.Zip(key).TakeWhile(x => x.First == x.Second).Count()))
            .Where(x => x.d <= Math.Max(3, key.Length / 2)).OrderBy(x => x.d - 0.5 * x.p).Select(x => x.n).FirstOrDefault();

    /// <summary>What an option's value must be, in words (the parser's own message names CLR types).</summary>
    internal static string Want(Option o)
    {
        var t = Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;
        t = t.IsArray ? t.GetElementType()! : t;
        t = Nullable.GetUnderlyingType(t) ?? t;
        return t == typeof(double) || t == typeof(float) ? "a number" : t == typeof(int) || t == typeof(long) ? "a whole number" : $"a {t.Name}";
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    /// <summary>
    /// The recipe of one command line: the verb as the only step, every option the user gave (defaults left out)
    /// as a field. Running it does what the command line does.
    /// </summary>
    public static string FromCommandLine(RootCommand root, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(root);
        var parse = root.Parse(args.ToArray());
        if (parse.Errors.Count > 0) throw new SecateurException(ErrorCode.BadArgument, parse.Errors[0].Message);
        var command = parse.CommandResult.Command;
        if (ReferenceEquals(command, root)) throw new SecateurException(ErrorCode.BadArgument, "--save-recipe needs a verb, e.g. secateur prune resnet20 --speedup 2 --save-recipe r.yaml");
        var yaml = new StringBuilder();
        yaml.AppendLine(CultureInfo.InvariantCulture, $"# secateur {string.Join(' ', args.Select(Quote))}");
        yaml.AppendLine(CultureInfo.InvariantCulture, $"{command.Name}:");
        foreach (var child in parse.CommandResult.Children)
        {
            switch (child)
            {
                case System.CommandLine.Parsing.ArgumentResult a when a.Tokens.Count > 0:
                    yaml.AppendLine(CultureInfo.InvariantCulture, $"  {a.Argument.Name}: {Scalar(a.Tokens[0].Value)}");
                    break;
                case System.CommandLine.Parsing.OptionResult o when !o.Implicit:
                    var key = o.Option.Name.TrimStart('-');
                    if (o.Option.ValueType == typeof(bool))
                        yaml.AppendLine(CultureInfo.InvariantCulture, $"  {key}: {(o.Tokens.Count == 0 ? "true" : o.Tokens[0].Value.ToLowerInvariant())}");
                    else if (o.Option.ValueType.IsArray)
                        yaml.AppendLine(CultureInfo.InvariantCulture, $"  {key}: [{string.Join(", ", o.Tokens.Select(t => Scalar(t.Value)))}]");
                    else if (o.Tokens.Count > 0)
                        yaml.AppendLine(CultureInfo.InvariantCulture, $"  {key}: {Scalar(o.Tokens[0].Value)}");
                    break;
            }
        }
        return yaml.ToString();
    }

    private static string Quote(string s) => s.Any(char.IsWhiteSpace) ? $"'{s}'" : s;

    // Plain YAML scalars unless quoting is needed to keep the text a string as written.
    private static string Scalar(string s) =>
        s.Length == 0 || s.IndexOfAny([':', '#', '\'', '"', '[', ']', '{', '}', ',', '&', '*', '!', '|', '>', '%', '@', '`']) >= 0 || char.IsWhiteSpace(s[0]) || char.IsWhiteSpace(s[^1])
            ? "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'" : s;
}
