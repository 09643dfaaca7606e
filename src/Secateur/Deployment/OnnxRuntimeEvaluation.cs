using Secateur.Data;

namespace Secateur.Deployment;

/// <summary>Top-1 predictions and accuracy of a model run by ONNX Runtime (so a float and an int8 file are measured alike).</summary>
/// <param name="Samples">Images evaluated.</param>
/// <param name="Correct">Images whose top-1 class is the label.</param>
/// <param name="Predictions">Top-1 class of every image, in order.</param>
public sealed record OrtEvaluation(long Samples, long Correct, IReadOnlyList<int> Predictions)
{
    /// <summary>Top-1 accuracy in [0, 1].</summary>
    public double Top1 => Samples == 0 ? 0 : Correct / (double)Samples;

    /// <summary>Fraction of images on which this and <paramref name="other"/> predict the same class.</summary>
    public double Agreement(OrtEvaluation other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Predictions.Count != Predictions.Count) throw new ArgumentException("the evaluations cover different images", nameof(other));
        if (Predictions.Count == 0) return 0;
        return Predictions.Zip(other.Predictions).Count(p => p.First == p.Second) / (double)Predictions.Count;
    }
}

/// <summary>Evaluates classifiers with ONNX Runtime.</summary>
public static class OnnxRuntimeEvaluation
{
    /// <summary>Runs <paramref name="session"/> over one epoch of <paramref name="batches"/>; the first output must be (N, classes) logits.</summary>
    /// <param name="session">The model.</param>
    /// <param name="batches">Normalised images and labels.</param>
    /// <param name="progress">Called with the number of images done after each batch.</param>
    /// <exception cref="SecateurException">BadArgument when the model's output is not one row of scores per image.</exception>
    public static OrtEvaluation Evaluate(OnnxRuntimeSession session, IBatchSource batches, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(batches);
        DataLoader.RequireLabels(batches, "accuracy");
        long samples = 0, correct = 0;
        var predictions = new List<int>();
        foreach (var batch in batches.Epoch(0))
        {
            var (output, shape) = session.Run(batch.Images, [batch.Count, .. batch.SampleShape]);
            if (shape.Length != 2 || shape[0] != batch.Count)
                throw new SecateurException(ErrorCode.BadArgument, $"'{session.Name}': output shape {string.Join('x', shape)} is not (batch, classes)");
            int classes = (int)shape[1];
            for (int i = 0; i < batch.Count; i++)
            {
                var row = output.AsSpan(i * classes, classes);
                int best = 0;
                for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
                predictions.Add(best);
                if (best == batch.Labels[i]) correct++;
            }
            samples += batch.Count;
            progress?.Invoke(samples);
        }
        return new OrtEvaluation(samples, correct, predictions);
    }
}
