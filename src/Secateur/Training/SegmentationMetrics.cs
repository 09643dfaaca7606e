using static TorchSharp.torch;

namespace Secateur.Training;

/// <summary>Segmentation scores over a dataset: mean IoU, pixel accuracy and the IoU of every class.</summary>
/// <param name="MeanIoU">Mean intersection-over-union over the classes present (in the targets or the predictions).</param>
/// <param name="PixelAccuracy">Fraction of counted (not ignored) pixels whose predicted class is right.</param>
/// <param name="ClassIoU">IoU of every class, NaN for a class absent from both targets and predictions.</param>
/// <param name="Pixels">Counted pixels.</param>
public sealed record SegmentationScores(double MeanIoU, double PixelAccuracy, IReadOnlyList<double> ClassIoU, long Pixels);

/// <summary>
/// The one place segmentation is scored: a K×K confusion matrix (rows: target class, columns: predicted class)
/// accumulated over batches, pixels whose target is the ignore index left out. IoU of class c is
/// TP / (TP + FP + FN); the mean is over the classes with a non-empty union (present in the targets or predicted),
/// as torchmetrics' and mmsegmentation's nan-mean does; pixel accuracy is the trace over all counted pixels.
/// </summary>
public sealed class SegmentationMetrics
{
    private readonly long[] _confusion;

    /// <summary>Creates an empty matrix for <paramref name="classes"/> classes, skipping targets equal to <paramref name="ignoreIndex"/>.</summary>
    public SegmentationMetrics(int classes, int ignoreIndex = Data.ImageDataset.DefaultIgnoreIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        Classes = classes;
        IgnoreIndex = ignoreIndex;
        _confusion = new long[classes * classes];
    }

    /// <summary>Number of classes K.</summary>
    public int Classes { get; }

    /// <summary>The target value that is not counted.</summary>
    public int IgnoreIndex { get; }

    /// <summary>Pixels of target class <paramref name="target"/> predicted as <paramref name="predicted"/> so far.</summary>
    public long this[int target, int predicted] => _confusion[target * Classes + predicted];

    /// <summary>Counts target/prediction pairs given as class indices (same length).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A counted target or a prediction is outside [0, K).</exception>
    public void Add(ReadOnlySpan<long> targets, ReadOnlySpan<long> predictions)
    {
        if (targets.Length != predictions.Length) throw new ArgumentException($"{targets.Length} targets but {predictions.Length} predictions.", nameof(predictions));
        for (int i = 0; i < targets.Length; i++)
        {
            long t = targets[i], p = predictions[i];
            if (t == IgnoreIndex) continue;
            if ((ulong)t >= (ulong)Classes) throw new ArgumentOutOfRangeException(nameof(targets), $"Target class {t} is outside [0, {Classes}).");
            if ((ulong)p >= (ulong)Classes) throw new ArgumentOutOfRangeException(nameof(predictions), $"Predicted class {p} is outside [0, {Classes}).");
            _confusion[t * Classes + p]++;
        }
    }

    /// <summary>Counts a batch: <paramref name="logits"/> (N, K, H, W) scored against <paramref name="targets"/> (N, H, W).</summary>
    public void Add(Tensor logits, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (logits.dim() != 4 || logits.shape[1] != Classes)
            throw new SecateurException(ErrorCode.BadArgument, $"a segmentation model outputs N×{Classes}×H×W scores; this one outputs {string.Join('×', logits.shape)}");
        using var scope = NewDisposeScope();
        var predicted = logits.argmax(1).flatten(); // (N·H·W)
        var target = targets.flatten().to(predicted.device);
        var counted = target.ne(IgnoreIndex);
        var pairs = target.masked_select(counted) * Classes + predicted.masked_select(counted);
        if (pairs.numel() > 0 && pairs.max().item<long>() >= (long)Classes * Classes)
            throw new SecateurException(ErrorCode.BadArgument, $"a target class is outside [0, {Classes}) and is not the ignore index {IgnoreIndex}", ParameterNames.Data);
        var counts = pairs.bincount(null, Classes * Classes).cpu().data<long>().ToArray();
        for (int i = 0; i < counts.Length; i++) _confusion[i] += counts[i];
    }

    /// <summary>The scores of everything counted so far (NaN mean and accuracy when nothing was counted).</summary>
    public SegmentationScores Compute()
    {
        int k = Classes;
        var iou = new double[k];
        long correct = 0, total = 0;
        var rows = new long[k];
        var columns = new long[k];
        for (int t = 0; t < k; t++)
            for (int p = 0; p < k; p++)
            {
                long n = _confusion[t * k + p];
                rows[t] += n;
                columns[p] += n;
                total += n;
                if (t == p) correct += n;
            }
        double sum = 0; int present = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = _confusion[c * k + c], union = rows[c] + columns[c] - tp;
            iou[c] = union == 0 ? double.NaN : (double)tp / union;
            if (union == 0) continue;
            sum += iou[c];
            present++;
        }
        return new SegmentationScores(present == 0 ? double.NaN : sum / present, total == 0 ? double.NaN : (double)correct / total, iou, total);
    }
}
