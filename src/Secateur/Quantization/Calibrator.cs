using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Secateur.Quantization;

/// <summary>
/// Runs a float model (eval mode, no gradients) over calibration batches and records the range of chosen tensors:
/// min-max (the extremes over all batches) or percentile (per batch the lower and upper percentile of the tensor's
/// values, averaged over the batches weighted by their element counts, which needs no histogram and no second pass).
/// </summary>
public static class Calibrator
{
    /// <summary>The ranges of <paramref name="tensors"/> (graph inputs or node outputs of <paramref name="graph"/>).</summary>
    /// <param name="graph">The float model.</param>
    /// <param name="batches">Calibration batches (normalised as the model expects).</param>
    /// <param name="tensors">Value names whose ranges are wanted.</param>
    /// <param name="method">Min-max or percentile.</param>
    /// <param name="percentile">Upper percentile in (50, 100] for <see cref="CalibrationMethod.Percentile"/>.</param>
    /// <param name="progress">Called with the number of images done after each batch.</param>
    /// <exception cref="SecateurException">BadArgument when there are no batches, the graph has not one input, or a name is not a value of the graph.</exception>
    public static Dictionary<string, ActivationRange> Calibrate(ModelGraph graph, IEnumerable<Batch> batches, IReadOnlyCollection<string> tensors,
        CalibrationMethod method, double percentile = 99.99, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(tensors);
        _ = new QuantizationOptions { Method = method, Percentile = method == CalibrationMethod.Percentile ? percentile : null }.Validated();
        if (graph.Inputs.Count != 1) throw new SecateurException(ErrorCode.BadArgument, $"'{graph.Name}' has {graph.Inputs.Count} inputs; calibration needs a model with one input");
        var known = graph.Nodes.SelectMany(n => n.Outputs).Concat(graph.Inputs.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var t in tensors)
            if (!known.Contains(t)) throw new SecateurException(ErrorCode.BadArgument, $"'{t}' is not a value of '{graph.Name}'");

        var min = tensors.ToDictionary(t => t, _ => double.PositiveInfinity, StringComparer.Ordinal);
        var max = tensors.ToDictionary(t => t, _ => double.NegativeInfinity, StringComparer.Ordinal);
        var sumLo = tensors.ToDictionary(t => t, _ => 0.0, StringComparer.Ordinal);
        var sumHi = tensors.ToDictionary(t => t, _ => 0.0, StringComparer.Ordinal);
        var weight = tensors.ToDictionary(t => t, _ => 0.0, StringComparer.Ordinal);
        int images = 0;
        using var module = new GraphModule(graph);
        module.eval();
        using (no_grad())
        {
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var x = tensor(batch.Images, [batch.Count, .. batch.SampleShape]); // (N, C, H, W)
                var values = module.Run(new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = x }, tensors);
                foreach (var name in tensors)
                {
                    var v = values[name].flatten();
                    long n = v.numel();
                    if (n == 0) continue;
                    min[name] = Math.Min(min[name], v.min().ToSingle());
                    max[name] = Math.Max(max[name], v.max().ToSingle());
                    if (method != CalibrationMethod.Percentile) continue;
                    long kHi = Math.Clamp((long)Math.Ceiling(percentile / 100.0 * n), 1, n);
                    long kLo = n - kHi + 1; // the mirror rank: the (100 − p)th percentile
                    sumLo[name] += v.kthvalue(kLo, 0).values.ToSingle() * (double)n;
                    sumHi[name] += v.kthvalue(kHi, 0).values.ToSingle() * (double)n;
                    weight[name] += n;
                }
                images += batch.Count;
                progress?.Invoke(images);
            }
        }
        if (images == 0) throw new SecateurException(ErrorCode.BadArgument, "no calibration images: the calibration data is empty");
        var result = new Dictionary<string, ActivationRange>(StringComparer.Ordinal);
        foreach (var name in tensors)
        {
            if (double.IsPositiveInfinity(min[name])) { result[name] = new ActivationRange(0, 0); continue; }
            result[name] = method == CalibrationMethod.Percentile && weight[name] > 0
                ? new ActivationRange((float)(sumLo[name] / weight[name]), (float)(sumHi[name] / weight[name]))
                : new ActivationRange((float)min[name], (float)max[name]);
        }
        return result;
    }
}
