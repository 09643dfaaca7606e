namespace Secateur.Training;

/// <summary>Loss and accuracy over a dataset or an epoch.</summary>
/// <param name="Loss">Mean cross-entropy per sample (per counted pixel for segmentation).</param>
/// <param name="Top1">Fraction of samples whose top class is right (of counted pixels, for segmentation).</param>
/// <param name="Top5">
/// Fraction of samples whose label is among the five highest scores; null when it says nothing: with five or fewer
/// classes (every label is always among the top five), for training epochs (not measured) and for segmentation.
/// </param>
/// <param name="Samples">Number of samples seen.</param>
public sealed record EvaluationResult(double Loss, double Top1, double? Top5, long Samples)
{
    /// <summary>The top-k accuracy reported as top-5 only above this many classes: at or below it, it is always 100 %.</summary>
    public const int Top5MinClasses = 6;

    /// <summary>This result for data with <paramref name="classes"/> classes: top-5 is dropped when it cannot be below 100 %.</summary>
    public EvaluationResult ForClasses(int classes) => classes < Top5MinClasses ? this with { Top5 = null } : this;

    /// <summary>Mean IoU, pixel accuracy and per-class IoU, for a segmentation evaluation; null for classification.</summary>
    public SegmentationScores? Segmentation { get; init; }

    /// <summary>The figure a workflow judges a model by: mean IoU for segmentation, top-1 accuracy for classification.</summary>
    public double Score => Segmentation?.MeanIoU ?? Top1;
}

/// <summary>What the trainer is doing now, for progress bars and logs.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Epochs">Total epochs.</param>
/// <param name="Batch">1-based batch within the epoch.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="Loss">Running mean loss this epoch.</param>
/// <param name="Accuracy">Running top-1 accuracy this epoch.</param>
/// <param name="ImagesPerSecond">Throughput this epoch.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="Elapsed">Time since training started (this process).</param>
/// <param name="Eta">Estimated time to the end of training.</param>
public sealed record TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, double Loss, double Accuracy,
    double ImagesPerSecond, double LearningRate, TimeSpan Elapsed, TimeSpan Eta)
{
    /// <summary>
    /// True when <see cref="Accuracy"/> is agreement with the teachers rather than accuracy against labels (label-free
    /// training): the fraction of samples, or of pixels for a class map, whose top class is the teachers'.
    /// </summary>
    public bool Agreement { get; init; }
}

/// <summary>Summary of one finished epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Train">Training loss and accuracy (running, with augmentation).</param>
/// <param name="Test">Evaluation on the held-out set, when one was given.</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
/// <param name="Seconds">Wall time of the epoch.</param>
public sealed record EpochResult(int Epoch, EvaluationResult Train, EvaluationResult? Test, double ImagesPerSecond, double Seconds)
{
    /// <summary>True when <see cref="Train"/>'s top-1 is agreement with the teachers (label-free training), as in <see cref="TrainingProgress.Agreement"/>.</summary>
    public bool TrainAgreement { get; init; }
}
