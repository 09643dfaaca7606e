using System.CommandLine;
using Secateur.Cli.Commands;

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
        var context = new CliContext(output, error);
        var root = new RootCommand("secateur: prune convolutional networks, fine-tune them, and prove what it gained")
        {
            InspectCommand.Create(context),
            TrainCommand.Create(context),
            EvalCommand.Create(context),
            DemoCommand.Create(context),
            PruneCommand.Create(context),
            SensitivityCommand.Create(context),
            CompressCommand.Create(context),
            CompressCommand.CreateDecompress(context),
        };
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e)
        {
            return Fail(e, error);
        }
    }

    /// <summary>Maps a failure to one line on stderr and an exit code; only bugs get a stack trace.</summary>
    internal static int Fail(Exception e, TextWriter error)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or TypeInitializationException && e.InnerException is not null)
            e = e.InnerException!;
        switch (e)
        {
            case SecateurException s:
                error.WriteLine($"error: {s.Message}");
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
