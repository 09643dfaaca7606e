namespace Secateur.Training;

/// <summary>Runs one training run and returns its epochs; the workflow passes the sinks it wants the run to report to.</summary>
/// <param name="batches">Receives a report after every batch, or null.</param>
/// <param name="epochEnd">Called after every epoch, or null.</param>
public delegate IReadOnlyList<EpochResult> TrainingRun(IProgress<TrainingProgress>? batches, Action<EpochResult>? epochEnd);

/// <summary>
/// What a long workflow (pruning, sparsity, quantization) tells its caller while it works: one line per stage or
/// decision, and every training run it starts. A front end shows them (the CLI draws a progress bar around each
/// run); <see cref="WorkflowProgress.Silent"/> ignores everything.
/// </summary>
public interface IWorkflowProgress
{
    /// <summary>One line about a stage or a decision (e.g. "step 2: budget reached").</summary>
    void Log(string line);

    /// <summary>
    /// Runs <paramref name="run"/>, a training run of <paramref name="epochs"/> epochs and <paramref name="totalBatches"/>
    /// batches in all, and returns what it returns. An implementation wraps it (in a progress bar, say) and must call it once.
    /// </summary>
    IReadOnlyList<EpochResult> Train(string title, int epochs, int totalBatches, TrainingRun run);
}

/// <summary>Ready-made <see cref="IWorkflowProgress"/> implementations.</summary>
public static class WorkflowProgress
{
    /// <summary>Ignores everything; training runs simply run.</summary>
    public static IWorkflowProgress Silent { get; } = new Lines(null);

    /// <summary>Passes every log line (and a line per finished epoch) to <paramref name="log"/>.</summary>
    public static IWorkflowProgress ToLines(Action<string> log) => new Lines(log ?? throw new ArgumentNullException(nameof(log)));

    private sealed class Lines(Action<string>? log) : IWorkflowProgress
    {
        public void Log(string line) => log?.Invoke(line);

        public IReadOnlyList<EpochResult> Train(string title, int epochs, int totalBatches, TrainingRun run)
        {
            ArgumentNullException.ThrowIfNull(run);
            if (log is null) return run(null, null);
            log(title);
            return run(null, e => log(FormattableString.Invariant($"epoch {e.Epoch}/{epochs}: train loss {e.Train.Loss:0.0000}, {(e.TrainAgreement ? "agreement" : "accuracy")} {e.Train.Top1:P2}")
                + (e.Test is { } t ? FormattableString.Invariant($", test {t.Top1:P2}") : "")));
        }
    }
}
