using Secateur.Graph;
using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Average Percentage of Zeros ("apoz", Hu et al. 2016): a channel that a ReLU switches off most of the time is
/// redundant. Measured in eval mode without gradients on the group's values that are outputs of Relu or Clip
/// (ReLU6) nodes and carry exactly the group's channels; score = 1 − APoZ (averaged over those values and the
/// calibration batches), so higher still means more important. Groups with no such value (e.g. MobileNetV2's
/// linear bottlenecks) fall back to <see cref="ActivationImportance"/>'s mean |x| — a different scale, so rank
/// such groups locally.
/// </summary>
public sealed class ApozImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "apoz";

    /// <inheritdoc/>
    public bool NeedsData => true;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.CheckWithTorch(dependencies, context);
        var data = ImportanceMath.RequireData(Name, context);
        var graph = dependencies.Graph;
        var shapes = ShapeInference.Infer(graph);
        var plan = new Dictionary<PruningGroup, (IReadOnlyList<FeaturePoint>, Func<Tensor, Tensor>)>();
        foreach (var group in dependencies.Prunable)
        {
            // A value with exactly the group's channel count holds the group alone (at offset 0).
            var relu = group.Values
                .Where(v => graph.Producer(v) is { Op: OpKind.Relu or OpKind.Clip } && shapes.TryGetValue(v, out var s) && s.Length >= 2 && s[1] == group.Channels
                    && (!dependencies.Values.TryGetValue(v, out var c) || c.Axis == 1))
                .Select(v => new FeaturePoint(v, 0, 1)).ToList();
            plan[group] = relu.Count > 0
                ? (relu, rows => 1 - rows.eq(0).to_type(ScalarType.Float64).mean([1]))
                : (ActivationImportance.Points(dependencies, group), ActivationImportance.MeanAbsolute);
        }
        return ActivationImportance.Measure(dependencies, data, context, plan);
    }
}
