using Secateur.Graph;
using Secateur.Graph.Ops;
using Secateur.Runtime;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Pruning;

/// <summary>
/// Input–output reconstruction error ("reconstruction"): how much each consumer layer's output changes when one of
/// its input channels is removed. For every consumer slice (a conv or linear layer reading the group) and calibration
/// batch, with the layer's input X and output Y captured in eval mode, channel j scores
/// <c>‖Y − Y₋ⱼ‖² / ‖Y‖²</c>. The layer is linear in X, so <c>Y − Y₋ⱼ</c> is the layer applied to X with only
/// channel j kept and no bias: for a conv, a grouped convolution of X's group channels with each channel's own
/// weight columns, whose energy is computed as <c>Σ_o w_ojᵀ G_j w_oj</c> from the Gram matrix G_j of channel j's
/// input patches (chunked to bound memory); for a linear layer, a batched product. Scores are summed over consumer
/// slices and up to <see cref="ImportanceContext.MaxBatches"/> batches; a channel no consumer weight reads scores 0.
/// </summary>
public sealed class ReconstructionImportance : IImportance
{
    // Elements of one chunk of per-channel conv outputs (32 MB of floats): bounds memory for wide layers.
    private const long ChunkElements = 8L << 20;

    /// <inheritdoc/>
    public string Name => "reconstruction";

    /// <inheritdoc/>
    public bool NeedsData => true;

    /// <inheritdoc/>
    public IReadOnlyDictionary<PruningGroup, float[]> Score(DependencyGraph dependencies, ImportanceContext context)
    {
        ImportanceMath.CheckWithTorch(dependencies, context);
        var data = ImportanceMath.RequireData(Name, context);
        var graph = dependencies.Graph;
        var groups = dependencies.Prunable.ToList();
        var consumers = groups.ToDictionary(g => g, g => g.Slices.Where(s => s.Role == SliceRole.Consumer && s.OneToOne) // grouped inputs: see MagnitudeImportance
            .Select(s => (Slice: s, Node: graph.FindNode(s.Node)!)).ToList());
        var capture = consumers.Values.SelectMany(c => c).SelectMany(c => new[] { c.Node.Inputs[0], c.Node.Output }).ToHashSet(StringComparer.Ordinal);
        var sums = groups.ToDictionary(g => g, g => new double[g.Channels]);
        ImportanceMath.ForEachBatch(graph, data, context, capture, (module, values) =>
        {
            foreach (var group in groups)
                foreach (var (slice, node) in consumers[group])
                {
                    var x = values[node.Inputs[0]];
                    var y = values[node.Output];
                    double energy = y.to_type(ScalarType.Float64).square().sum().item<double>();
                    if (energy <= 0) continue; // a dead output cannot be reconstructed worse
                    var w = module.Tensor(node.Inputs[1]);
                    var change = node.Op == OpKind.Conv ? ConvChange(node, x, w, y, slice, group.Channels) : GemmChange(node, x, w, slice, group.Channels);
                    var acc = sums[group];
                    for (int j = 0; j < acc.Length; j++) acc[j] += change[j] / energy;
                }
        });
        return sums.ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)v).ToArray());
    }

    /// <summary>‖conv(X[:, j], W[:, j])‖² for each channel j of the slice.</summary>
    private static double[] ConvChange(Node node, Tensor x, Tensor w, Tensor y, ChannelSlice s, long channels)
    {
        long n = x.shape[0], outChannels = w.shape[0];
        int rank = (int)x.dim() - 2;
        var kernel = w.shape[2..];
        var (_, strides, dilations, begin, end, _) = ConvGeometry.Of(node, x.shape, kernel);
        // Asymmetric ONNX pads are applied explicitly, as the runtime's Conv kernel does; the rest is symmetric.
        var (xs, padding) = Kernels.Symmetric(x.narrow(1, s.Offset, channels), begin, end, 0);
        var ws = w.narrow(1, s.Offset, channels).to_type(ScalarType.Float64);
        var result = new double[channels];
        if (rank == 2)
        {
            // ‖conv(x_j, w_oj)‖² = w_ojᵀ G_j w_oj with G_j the Gram matrix of x_j's receptive-field patches:
            // one unfold and two small contractions instead of a convolution per channel.
            long taps = kernel[0] * kernel[1];
            long perChannel = n * taps * taps + n * taps * (y.shape[2] * y.shape[3]);
            long chunk = Math.Clamp(ChunkElements / Math.Max(1, perChannel), 1, channels);
            for (long c0 = 0; c0 < channels; c0 += chunk)
            {
                using var scope = NewDisposeScope();
                long k = Math.Min(chunk, channels - c0);
                var patches = F.unfold(xs.narrow(1, c0, k), (kernel[0], kernel[1]), (dilations[0], dilations[1]), (padding[0], padding[1]), (strides[0], strides[1]))
                    .to_type(ScalarType.Float64).reshape(n, k, taps, -1).permute(1, 2, 0, 3).reshape(k, taps, -1); // (k, taps, N·positions)
                // Explicit batched products: libtorch's einsum picks slow paths for these shapes.
                var gram = patches.bmm(patches.transpose(1, 2));                                                  // (k, taps, taps)
                var wk = ws.narrow(1, c0, k).reshape(outChannels, k, taps).transpose(0, 1);                       // (k, O, taps)
                var energy = ImportanceMath.ToArray(wk.bmm(gram).mul(wk).sum([1, 2]));
                for (long j = 0; j < k; j++) result[c0 + j] = energy[j];
            }
            return result;
        }
        // Other ranks: a grouped convolution whose row block j holds the output filters' columns for input channel j alone.
        var weight = w.narrow(1, s.Offset, channels).transpose(0, 1).reshape([channels * outChannels, 1, .. kernel]);
        long outPositions = y.shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        long groupsPerChunk = Math.Clamp(ChunkElements / Math.Max(1, n * outChannels * outPositions), 1, channels);
        for (long c0 = 0; c0 < channels; c0 += groupsPerChunk)
        {
            using var scope = NewDisposeScope();
            long k = Math.Min(groupsPerChunk, channels - c0);
            var xc = xs.narrow(1, c0, k);
            var wc = weight.narrow(0, c0 * outChannels, k * outChannels);
            var part = rank switch
            {
                1 => F.conv1d(xc, wc, null, strides[0], padding[0], dilations[0], k),
                3 => F.conv3d(xc, wc, null, strides, padding, dilations, k),
                _ => throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': Conv on rank-{rank + 2} input"),
            };
            var energy = ImportanceMath.ToArray(part.reshape(n, k, -1).to_type(ScalarType.Float64).square().sum([0, 2]));
            for (long j = 0; j < k; j++) result[c0 + j] = energy[j];
        }
        return result;
    }

    /// <summary>‖α · X[:, features of j] · W[features of j, :]‖² for each channel j of the slice (Gemm, or MatMul by a constant weight).</summary>
    private static double[] GemmChange(Node node, Tensor x, Tensor w, ChannelSlice s, long channels)
    {
        using var scope = NewDisposeScope();
        // A MatMul by a constant weight reads the last axis: every position of the other axes is a row, as in a Gemm.
        if (node.Op == OpKind.MatMul) x = x.reshape(-1, x.shape[^1]);
        long n = x.shape[0];
        var wt = node.Int("transB", 0) != 0 ? w.t() : w; // (in features, out features)
        var xs = x.reshape(n, -1, s.Factor).narrow(1, s.Offset, channels);                 // (N, C, Factor)
        var ws = wt.reshape(-1, s.Factor, wt.shape[1]).narrow(0, s.Offset, channels);        // (C, Factor, Out)
        var part = xs.transpose(0, 1).bmm(ws).to_type(ScalarType.Float64) * node.Float("alpha", 1f); // (C, N, Out)
        return ImportanceMath.ToArray(part.square().sum([1, 2])).Select(v => (double)v).ToArray();
    }
}
