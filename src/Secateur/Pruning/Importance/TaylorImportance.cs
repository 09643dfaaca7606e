using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Pruning;

/// <summary>
/// First-order Taylor importance ("taylor", Molchanov et al. 2019): the loss change from removing a channel is
/// approximated by <c>|Σ g·w|</c> over the channel's parameters. The model runs in eval mode (batch norm uses its
/// running statistics and is not updated) on up to <see cref="ImportanceContext.MaxBatches"/> calibration batches;
/// each batch's mean cross-entropy is back-propagated, and for every trainable producer or per-channel slice
/// (weight rows, biases, batch-norm scale and shift, depthwise filters) <c>|Σ_elements grad × weight|</c> of each
/// channel is added up over slices and batches. Consumer columns are left out, as in the paper's gate formulation.
/// </summary>
public sealed class TaylorImportance : IImportance
{
    /// <inheritdoc/>
    public string Name => "taylor";

    /// <inheritdoc/>
    public bool NeedsData => true;

    /// <inheritdoc/>
    public bool NeedsLabels => true;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.CheckWithTorch(dependencies, context);
        var data = ImportanceMath.RequireData(Name, context);
        var graph = dependencies.Graph;
        var groups = dependencies.Prunable.ToList();
        var sums = groups.ToDictionary(g => g, g => new double[g.Channels]);
        using var module = new GraphModule(graph, Devices.Parse(context.Device));
        module.eval();
        var parameters = module.GraphParameters().ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        int batches = 0;
        foreach (var batch in ImportanceMath.Batches(data, context))
        {
            using var scope = NewDisposeScope();
            module.zero_grad();
            var (x, y) = Trainer.ToTensors(batch, module.Device);
            using (enable_grad())
                F.cross_entropy(module.forward(x), y, ignore_index: batch.IgnoreIndex).backward(); // masks for segmentation
            using (no_grad())
                foreach (var group in groups)
                {
                    var total = zeros(group.Channels, dtype: ScalarType.Float64, device: module.Device);
                    foreach (var s in group.Slices.Where(s => s.Role != SliceRole.Consumer && s.OneToOne))
                    {
                        // Running statistics and constants are not parameters: they have no gradient.
                        if (!parameters.TryGetValue(s.Tensor, out var p) || p.grad is not { } grad) continue;
                        total += ImportanceMath.ChannelRows(grad * p, s, group.Channels).to_type(ScalarType.Float64).sum(1).abs();
                    }
                    var v = ImportanceMath.ToArray(total);
                    var acc = sums[group];
                    for (int j = 0; j < acc.Length; j++) acc[j] += v[j];
                }
            batches++;
        }
        if (batches == 0) throw new SecateurException(ErrorCode.BadArgument, "the calibration data is empty");
        module.zero_grad();
        return sums.ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)v).ToArray());
    }
}
