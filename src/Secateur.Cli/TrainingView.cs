using System.Diagnostics;
using System.Globalization;
using Secateur.Reporting;
using Secateur.Training;
using Spectre.Console;

namespace Secateur.Cli;

/// <summary>
/// Shows long work to the user: a live Spectre progress bar (epoch, loss, accuracy, images/s, ETA) when stderr
/// is a terminal, otherwise a plain line per epoch and a heartbeat line every 30 seconds.
/// </summary>
public static class TrainingView
{
    /// <summary>Runs <paramref name="work"/>, giving it a progress sink wired to the view.</summary>
    public static T Run<T>(CliContext context, string title, int totalBatches, Func<IProgress<TrainingProgress>, Action<EpochResult>, T> work)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(work);
        if (context.LiveProgress)
        {
            T result = default!;
            context.ProgressConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, totalBatches));
                    var sink = new Progress(p =>
                    {
                        task.Description = Markup.Escape(Describe(p));
                        task.Value = (p.Epoch - 1) * (double)p.Batches + p.Batch;
                    });
                    result = work(sink, e => ctx.Refresh());
                    task.Value = task.MaxValue;
                });
            return result;
        }
        var clock = Stopwatch.StartNew();
        var lastBeat = TimeSpan.Zero;
        var heartbeat = new Progress(p =>
        {
            if (clock.Elapsed - lastBeat < TimeSpan.FromSeconds(30)) return;
            lastBeat = clock.Elapsed;
            context.Error.WriteLine($"  {Describe(p)}");
        });
        context.Error.WriteLine(title);
        return work(heartbeat, _ => { });
    }

    /// <summary>A workflow progress sink for the library's pipelines: log lines on stderr, every training run drawn by <see cref="Run"/>.</summary>
    public static IWorkflowProgress For(CliContext context) => new WorkflowView(context ?? throw new ArgumentNullException(nameof(context)));

    /// <summary>One line per finished epoch.</summary>
    public static string EpochLine(EpochResult e, int epochs) =>
        FormattableString.Invariant($"epoch {e.Epoch}/{epochs}: train loss {e.Train.Loss:0.0000} {(e.TrainAgreement ? "agreement" : "acc")} {e.Train.Top1:P2}") +
        (e.Test is { Segmentation: { } seg } st ? FormattableString.Invariant($" | test loss {st.Loss:0.0000} mIoU {seg.MeanIoU:P2} pixel acc {seg.PixelAccuracy:P2}")
            : e.Test is { } t ? FormattableString.Invariant($" | test loss {t.Loss:0.0000} acc {t.Top1:P2}{Top5(t)}") : "") +
        FormattableString.Invariant($" | {e.ImagesPerSecond:0} img/s, {Wording.Duration(e.Seconds)}");

    /// <summary><c>, top-5 91.20%</c> after a top-1, or nothing when top-5 says nothing (five or fewer classes).</summary>
    public static string Top5(EvaluationResult result, string prefix = " top-5 ") =>
        result.Top5 is { } t ? prefix + t.ToString("P2", CultureInfo.InvariantCulture) : "";

    private static string Describe(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches} loss {p.Loss:0.000} {(p.Agreement ? "agreement" : "acc")} {p.Accuracy:P1} {p.ImagesPerSecond:0} img/s lr {p.LearningRate:0.####} ETA {p.Eta:hh\\:mm\\:ss}");

    private sealed class WorkflowView(CliContext context) : IWorkflowProgress
    {
        public void Log(string line) => context.Error.WriteLine(line);

        public IReadOnlyList<EpochResult> Train(string title, int epochs, int totalBatches, TrainingRun run) =>
            Run(context, title, totalBatches, (progress, refresh) => run(progress, e =>
            {
                context.Error.WriteLine(EpochLine(e, epochs));
                refresh(e);
            }));
    }

    // Synchronous IProgress: System.Progress<T> would post to the thread pool and reorder reports.
    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
