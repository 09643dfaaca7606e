using System.CommandLine;
using Secateur.Cli.Commands;
using Secateur.Compression;
using Secateur.Deployment;
using Secateur.Pruning;
using Secateur.Pruning.Unstructured;
using Secateur.Quantization;
using Secateur.Training;

namespace Secateur.Cli;

/// <summary>The <c>secateur</c> command line: verbs, and the one place where failures become exit codes.</summary>
public static class Cli
{
    /// <summary>Exit code for an unexpected internal failure (a bug: the stack trace is printed).</summary>
    public const int InternalError = 70;

    /// <summary>Parses <paramref name="args"/>, runs the verb, and returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        // The tool owns its process: opt into the allocator tuning (measured gain on MobileNetV2 training) before any
        // tensor is allocated. A library caller makes this choice itself; see SecateurRuntime.
        Secateur.Runtime.SecateurRuntime.ConfigureProcess();
        var context = new CliContext(output, error);
        var root = Root(context);
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            // --save-recipe FILE on any verb: write the equivalent recipe instead of running.
            int save = Array.IndexOf(args, SaveRecipe);
            if (save >= 0)
            {
                if (save + 1 >= args.Length) throw new SecateurException(ErrorCode.BadArgument, $"{SaveRecipe} needs a file name");
                var rest = args.Take(save).Concat(args.Skip(save + 2)).ToArray();
                File.WriteAllText(args[save + 1], Recipes.Recipe.FromCommandLine(root, rest));
                output.WriteLine($"wrote {args[save + 1]}; run it with: secateur run {args[save + 1]}");
                return 0;
            }
            var parse = root.Parse(args);
            // A mistake on a verb is one line and exit 5 (BadArgument), like every other user error; the bare tool
            // without a verb keeps the parser's help.
            if (parse.Errors.Count > 0 && parse.CommandResult.Command is not RootCommand)
                throw new SecateurException(ErrorCode.BadArgument, ParseFailure(parse));
            return parse.Invoke(config);
        }
        catch (Exception e)
        {
            return Fail(e, error);
        }
    }

    /// <summary>
    /// One line for a parse error: an unknown option with the verb's nearest option, a value that does not convert
    /// with what the option expects, or else the parser's own first message.
    /// </summary>
    internal static string ParseFailure(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.UnmatchedTokens.FirstOrDefault() is { } token)
        {
            if (!token.StartsWith('-')) return $"unexpected argument '{token}' for '{command.Name}'";
            var names = command.Options.Concat(parse.RootCommandResult.Command.Options.Where(o => o.Recursive))
                .SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal) && n is not ("--help" or "--version"))
                .Distinct().ToList();
            var near = Recipes.Recipe.Nearest(names, token);
            return near is null ? $"unknown option '{token}' for '{command.Name}' (see secateur {command.Name} --help)" : $"unknown option '{token}' (did you mean {near}?)";
        }
        var error = parse.Errors[0];
        if (error.SymbolResult is System.CommandLine.Parsing.OptionResult { Option: var option } result && result.Tokens.Count > 0
            && error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal))
            return $"{option.Name} expects {Recipes.Recipe.Want(option)} (got '{string.Join(" ", result.Tokens.Select(t => t.Value))}')";
        return error.Message;
    }

    /// <summary>The option, accepted after any verb, that writes the command as a recipe instead of running it.</summary>
    public const string SaveRecipe = "--save-recipe";

    /// <summary>Every verb.</summary>
    internal static RootCommand Root(CliContext context)
    {
        var root = new RootCommand("secateur: prune convolutional networks, fine-tune them, and prove what it gained")
        {
            InspectCommand.Create(context),
            TrainCommand.Create(context),
            EvalCommand.Create(context),
            DemoCommand.Create(context),
            MakeDatasetCommand.Create(context),
            PruneCommand.Create(context),
            SparsifyCommand.Create(context),
            SensitivityCommand.Create(context),
            ExportCommand.Create(context),
            ImportWeightsCommand.Create(context),
            BenchCommand.Create(context),
            QuantizeCommand.Create(context),
            ReportCommand.Create(context),
            RunCommand.Create(context, () => Root(context)),
            CompressCommand.Create(context),
            CompressCommand.CreateDecompress(context),
        };
        // Listed in every verb's help; handled in Run before parsing.
        root.Options.Add(new Option<string?>(SaveRecipe) { Description = "write this command as a YAML recipe (for 'secateur run') instead of running it", Recursive = true });
        return root;
    }

    /// <summary>
    /// The flag spelling of each <see cref="SecateurException.Parameter"/> the library reports: the one table from
    /// library names to this command line's flags. A name shared by several options types (e.g. <c>Steps</c> of both
    /// schedules, <c>Threads</c> of a latency budget and of an ONNX Runtime session) is one entry, so every verb must
    /// spell it the same; a duplicate key fails at start-up rather than silently picking one.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // ErrorFlagTests pins this list; --threshold, the sixth target, has its own entry below and is named in the message itself.
        { nameof(PruningOptions.Target), "--ratio, --speedup, --macs, --params or --target-latency" },
        { nameof(PruningTarget.Threshold), "--threshold" },
        { nameof(PruneRequest.CalibrationBatches), "--calibration-batches" },
        { nameof(PruneRequest.RecalibrationImages), "--recalibrate" },
        { RefitOptions.ImagesParameter, "--refit-images" },
        { RefitOptions.RidgeParameter, "--refit-ridge" },
        { RefitOptions.PositionsParameter, "--refit-positions" },
        { nameof(PruneRequest.BatchNormRecovery), "--bn-recovery" },
        { nameof(PruneRequest.SensitivityRatios), "--sensitivity-ratios" },
        { nameof(PruneRequest.Distillation), "--distill" }, // also SparsityRequest.Distillation
        { nameof(DistillationOptions.Alpha), "--distill-alpha" },
        { nameof(DistillationOptions.Temperature), "--distill-temperature" },
        { nameof(DistillationOptions.FeatureWeight), "--distill-feature-weight" },
        { nameof(DistillationOptions.ClassMaps), "--distill-class-maps" },
        { nameof(DistillationOptions.Teachers), "--teacher" },
        { ParameterNames.Against, "--against" },
        { nameof(SparsityRequest.Schedule), "--schedule" },
        { nameof(PruningTarget.Ratio), "--ratio" },
        { nameof(PruningTarget.Speedup), "--speedup" },
        { nameof(PruningTarget.Macs), "--macs" },
        { nameof(PruningTarget.Params), "--params" },
        { nameof(LatencyBudget.Milliseconds), "--target-latency" },
        { nameof(LatencyBudget.Batch), "--latency-batch" },
        { nameof(LatencyBudget.Threads), "--threads" }, // also SessionSettings.Threads
        { nameof(AllocationOptions.RoundTo), "--round-to" },
        { nameof(AllocationOptions.MaxGroupRatio), "--max-layer-ratio" },
        { nameof(PruningOptions.Sensitivity), "--sensitivity" },
        { nameof(ScheduleOptions.Steps), "--steps" }, // also SparsityScheduleOptions.Steps
        { nameof(ScheduleOptions.Tolerance), "--tolerance" },
        { nameof(SparsityOptions.Sparsity), "--sparsity" },
        { nameof(SparsityOptions.Nm), "--nm" },
        { nameof(SparsityScheduleOptions.RewindEpoch), "--rewind-epoch" },
        { nameof(QuantizationOptions.Percentile), "--percentile" },
        { nameof(QuantizationOptions.CalibrationImages), "--calibration-images" },
        { nameof(ArchiveOptions.Level), "--level" },
        { nameof(TrainingOptions.CheckpointPath), "--checkpoint" },
        { nameof(TrainingOptions.Precision), "--precision" },
        { nameof(LatencyOptions.Warmup), "--warmup" },
        { nameof(LatencyOptions.Runs), "--runs" },
        { nameof(LatencyOptions.Seconds), "--seconds" },
        { ParameterNames.InputShape, "--input-shape" },
        { ParameterNames.Data, "--data" },
        { ParameterNames.DataDirectory, "--data-dir" },
        { ParameterNames.Preprocessing, "--preprocess" },
        { nameof(Graph.InputPreprocessing.Mean), "--mean" },
        { nameof(Graph.InputPreprocessing.Std), "--std" },
        { ParameterNames.Task, "--task" },
        { nameof(Secateur.Data.FashionSegmentationOptions.TrainCanvases), "--train" },
        { nameof(Secateur.Data.FashionSegmentationOptions.TestCanvases), "--test" },
        { nameof(Secateur.Data.FashionSegmentationOptions.CanvasSize), "--size" },
        { nameof(Secateur.Data.FashionSegmentationOptions.MaxGarments), "--garments" },
        { nameof(Secateur.Data.DataSourceOptions.IgnoreIndex), "--ignore-index" }, // also ImageDataset.IgnoreIndex
        { nameof(Secateur.Onnx.OnnxSaveOptions.Opset), "--opset" },
    };

    /// <summary>
    /// The one-line text of a domain failure: the library's message, followed by the flag (or flags) to change in
    /// parentheses when the failure names a parameter this table knows, e.g. <c>criterion 'taylor' needs calibration
    /// data (--data)</c>. An unknown or absent parameter leaves the message alone.
    /// </summary>
    internal static string Describe(SecateurException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.Parameter is { } p && Flags.TryGetValue(p, out var flags) ? $"{e.Message} ({flags})" : e.Message;
    }

    /// <summary>Maps a failure to one line on stderr and an exit code; only bugs get a stack trace.</summary>
    internal static int Fail(Exception e, TextWriter error)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or TypeInitializationException && e.InnerException is not null)
            e = e.InnerException!;
        switch (e)
        {
            case SecateurException s:
                error.WriteLine($"error: {Describe(s)}");
                return (int)s.Code;
            case OperationCanceledException:
                error.WriteLine("cancelled");
                return 130;
            case FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException:
                error.WriteLine($"error: {e.Message}");
                return (int)ErrorCode.BadFile;
            default:
                error.WriteLine($"internal error (please report it): {e}");
                return InternalError;
        }
    }
}
