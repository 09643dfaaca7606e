using Secateur.Data;
using Secateur.Graph;
using Secateur.Graph.Ops;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>
/// Where a feature-based criterion looks: channel <c>j</c> of a group is elements <c>[(Offset + j)·Factor, (Offset + j + 1)·Factor)</c>
/// of axis <c>Axis</c> of <c>Value</c> (1, or the last where a Transpose moved the channels).
/// </summary>
internal readonly record struct FeaturePoint(string Value, long Offset, long Factor, int Axis = 1);

/// <summary>Shared plumbing of the criteria: per-channel views of tensors, normalisation, calibration passes.</summary>
internal static class ImportanceMath
{
    /// <summary>The group's channels of <paramref name="t"/> as rows: shape (channels, elements per channel).</summary>
    public static Tensor ChannelRows(Tensor t, ChannelSlice s, long channels)
    {
        var moved = s.Axis == 0 ? t : t.movedim([s.Axis], [0L]);
        return moved.narrow(0, s.Offset * s.Factor, channels * s.Factor).reshape(channels, -1);
    }

    /// <summary>The group's channels of an activation (N, C·Factor, …) or (N, C·Factor) as rows: (channels, samples × positions).</summary>
    public static Tensor FeatureRows(Tensor t, FeaturePoint p, long channels)
    {
        // Flatten folds Factor spatial positions into each feature; conv inputs have Factor 1 and keep H·W behind the channel.
        if (p.Axis != 1) t = t.movedim([p.Axis], [1L]);
        var v = t.reshape(t.shape[0], t.shape[1] / p.Factor, -1);
        return v.narrow(1, p.Offset, channels).transpose(0, 1).reshape(channels, -1);
    }

    /// <summary>True for batch-norm running mean and variance: statistics of the data, not learned importance.</summary>
    public static bool IsBatchNormStatistic(ModelGraph graph, ChannelSlice s) =>
        graph.FindNode(s.Node) is { } n && OpRegistry.For(n).ReadsAsRunningStatistic(n, s.Tensor);

    /// <summary>True for the batch-norm scale (gamma).</summary>
    public static bool IsBatchNormScale(ModelGraph graph, ChannelSlice s) =>
        s.OneToOne && graph.FindNode(s.Node) is { Op: OpKind.BatchNormalization } n && n.Inputs[1] == s.Tensor;

    /// <summary>True for the filters of a conv or linear layer (a MatMul by a constant weight too): producer weights and depthwise filters (not biases).</summary>
    public static bool IsFilter(ModelGraph graph, ChannelSlice s) =>
        s.Role != SliceRole.Consumer && s.OneToOne && graph.FindNode(s.Node) is { } n && (OpRegistry.For(n).IsWeightedLayer || n.Op == OpKind.MatMul) && n.Inputs[1] == s.Tensor;

    /// <summary><paramref name="v"/> divided by its mean, so that every slice weighs the same; an all-zero vector stays zero.</summary>
    public static Tensor NormaliseByMean(Tensor v)
    {
        double mean = v.mean().item<double>();
        return mean > 0 ? v / mean : v;
    }

    /// <summary>Copies a 1-D tensor into a float array.</summary>
    public static float[] ToArray(Tensor t) => t.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    /// <summary>Initializers as float64 torch tensors, each converted once per scoring pass.</summary>
    public static Func<string, Tensor> Initializers(ModelGraph graph)
    {
        var cache = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        return name => cache.TryGetValue(name, out var t) ? t
            : cache[name] = GraphModule.ToTensor(graph.Initializers[name]).to_type(ScalarType.Float64);
    }

    /// <summary>Throws the user-facing error of a data-driven criterion run without data.</summary>
    public static IBatchSource RequireData(string criterion, ImportanceContext context) =>
        context.Calibration ?? throw new SecateurException(ErrorCode.BadArgument, $"criterion '{criterion}' needs calibration data", ParameterNames.Data);

    /// <summary>The calibration batches to use: the first <see cref="ImportanceContext.MaxBatches"/> of epoch 0.</summary>
    public static IEnumerable<Batch> Batches(IBatchSource data, ImportanceContext context) => data.Epoch(0).Take(Math.Max(1, context.MaxBatches));

    /// <summary>
    /// Runs the model in eval mode without gradients over the calibration batches and hands each batch's
    /// <paramref name="capture"/>d values to <paramref name="perBatch"/>; returns the number of batches seen.
    /// </summary>
    public static int ForEachBatch(ModelGraph graph, IBatchSource data, ImportanceContext context, IReadOnlyCollection<string> capture,
        Action<GraphModule, IReadOnlyDictionary<string, Tensor>> perBatch)
    {
        using var module = new GraphModule(graph, Devices.Parse(context.Device));
        module.eval();
        int batches = 0;
        using (no_grad())
        {
            foreach (var batch in Batches(data, context))
            {
                using var scope = NewDisposeScope();
                var (x, _) = Trainer.ToTensors(batch, module.Device);
                var values = module.Run(new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = x }, capture);
                perBatch(module, values);
                batches++;
            }
        }
        if (batches == 0) throw new SecateurException(ErrorCode.BadArgument, "the calibration data is empty");
        return batches;
    }

    /// <summary>Validates the common arguments of <see cref="IImportance.Score"/>.</summary>
    /// <remarks>
    /// It does not load libtorch: the managed criteria (magnitude, batch-norm scale, random) read the graph's float
    /// arrays and must stay usable without it. Criteria that make tensors call <see cref="CheckWithTorch"/>.
    /// </remarks>
    public static void Check(DependencyGraph dependencies, ImportanceContext context)
    {
        ArgumentNullException.ThrowIfNull(dependencies);
        ArgumentNullException.ThrowIfNull(context);
    }

    /// <summary><see cref="Check"/>, then makes sure libtorch is loaded (and repaired where needed) before the first tensor.</summary>
    public static void CheckWithTorch(DependencyGraph dependencies, ImportanceContext context)
    {
        Check(dependencies, context);
        NativeLibraries.EnsureTorch();
    }
}
