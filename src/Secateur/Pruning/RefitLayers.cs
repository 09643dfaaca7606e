using Secateur.Graph;
using Secateur.Graph.Ops;
using Secateur.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Pruning;

/// <summary>
/// One layer <see cref="Refit"/> solves: how its regression rows (input patches) and targets (the dense layer's
/// output at the same positions, restricted to the kept output channels) are cut from the activations, how its
/// weights read and write as one (outputs × regressors) matrix per convolution group, and where its bias goes.
/// </summary>
internal sealed class RefitLayers
{
    private enum Kind { Conv, ConvTranspose, Gemm, MatMul }

    private enum Sink { None, OwnBias, BatchNormMean, AddConstant }

    private readonly Node _node;
    private readonly Kind _kind;
    private readonly long[] _keptOut;
    private readonly Sink _sink;
    private readonly string? _sinkTensor;
    private long[]? _outSpatial;

    private RefitLayers(int index, Node node, Kind kind, long[] keptOut, Sink sink, string? sinkTensor)
    {
        Index = index;
        _node = node;
        _kind = kind;
        _keptOut = keptOut;
        _sink = sink;
        _sinkTensor = sinkTensor;
    }

    /// <summary>Position of the layer in the graph's node list.</summary>
    public int Index { get; }

    /// <summary>Every layer of <paramref name="pruned"/> that reads channels <paramref name="plan"/> removed and that refit can solve.</summary>
    public static List<RefitLayers> Find(PruningPlan plan, ModelGraph pruned)
    {
        var dense = plan.Dependencies.Graph;
        var cuts = StructuredPruner.Cuts(plan.Remove);
        var denseShapes = ShapeInference.Infer(dense);
        var prunedShapes = ShapeInference.Infer(pruned);
        var consumers = pruned.Nodes.SelectMany(n => n.Inputs.Where(v => v.Length > 0).Distinct().Select(v => (Value: v, Node: n)))
            .ToLookup(p => p.Value, p => p.Node, StringComparer.Ordinal);
        var outputs = pruned.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var result = new List<RefitLayers>();
        for (int i = 0; i < pruned.Nodes.Count; i++)
        {
            var node = pruned.Nodes[i];
            Kind? kind = node.Op switch
            {
                OpKind.Conv => Kind.Conv,
                OpKind.ConvTranspose => Kind.ConvTranspose,
                OpKind.Gemm when node.Int("transA", 0) == 0 => Kind.Gemm,
                OpKind.MatMul => Kind.MatMul,
                _ => null,
            };
            if (kind is not { } k || node.Inputs.Count < 2 || !pruned.Initializers.TryGetValue(node.Inputs[1], out var w)
                || pruned.Initializers.ContainsKey(node.Inputs[0]) || (k == Kind.MatMul && w.Shape.Length != 2)) continue;
            var x = node.Inputs[0];
            int inAxis = k is Kind.Conv or Kind.ConvTranspose ? 1 : denseShapes[x].Length - 1;
            if (denseShapes[x][inAxis] == prunedShapes[x][inAxis]) continue; // reads no pruned channel
            // Kept output channels, in the dense output's numbering.
            int outAxis = k switch { Kind.Conv => 0, Kind.ConvTranspose => 1, Kind.Gemm => node.Int("transB", 0) != 0 ? 0 : 1, _ => 1 };
            var denseW = dense.Initializers[node.Inputs[1]];
            long axisLength = denseW.Shape[outAxis];
            var removed = cuts.GetValueOrDefault((node.Inputs[1], outAxis)) ?? [];
            var positions = Enumerable.Range(0, (int)axisLength).Select(j => (long)j).Where(j => !removed.Contains(j)).ToArray();
            long blocks = k == Kind.ConvTranspose ? dense.FindNode(node.Name)!.Int("group", 1) : 1;
            var kept = Enumerable.Range(0, (int)blocks).SelectMany(b => positions.Select(p => b * axisLength + p)).ToArray();
            var y = prunedShapes[node.Output];
            long outputs0 = k is Kind.Conv or Kind.ConvTranspose ? y[1] : y[^1];
            if (kept.Length != outputs0)
                throw new SecateurException(ErrorCode.InvalidGraph, $"node '{node.Name}': {kept.Length} kept output channels, but the pruned layer has {outputs0}");
            var (sink, tensor) = FindSink(node, k, outputs0, y.Length, pruned, consumers, outputs);
            result.Add(new RefitLayers(i, node, k, kept, sink, tensor));
        }
        return result;
    }

    private static (Sink, string?) FindSink(Node node, Kind kind, long outputs, int outputRank, ModelGraph g, ILookup<string, Node> consumers, HashSet<string> graphOutputs)
    {
        if (node.InputOrNull(2) is { } b && g.Initializers.TryGetValue(b, out var bias))
            // Gemm's C may broadcast from a scalar or a full matrix: only a per-output vector can take a fitted bias.
            return bias.Shape.Aggregate(1L, (p, q) => p * q) == outputs && bias.Shape.LastOrDefault(1) == outputs ? (Sink.OwnBias, b) : (Sink.None, null);
        var readers = consumers[node.Output].ToList();
        if (readers.Count != 1 || graphOutputs.Contains(node.Output)) return (Sink.None, null);
        var next = readers[0];
        if (next.Op == OpKind.BatchNormalization && next.Inputs[0] == node.Output && g.Initializers.ContainsKey(next.Inputs[3]))
            return (Sink.BatchNormMean, next.Inputs[3]);
        if (next.Op == OpKind.Add && next.Inputs.Count == 2)
        {
            var other = next.Inputs[0] == node.Output ? next.Inputs[1] : next.Inputs[0];
            if (other != node.Output && g.Initializers.TryGetValue(other, out var c) && PerChannel(c.Shape, kind, outputs, outputRank))
                return (Sink.AddConstant, other);
        }
        return (Sink.None, null);
    }

    // A constant that adds one value per output channel when broadcast against the layer's output: (O) or (1,O) after a
    // matmul (channels last); (O,1,1) or (1,O,1,1) after a 2-D conv, whose channel axis sits rank−1 places from the end.
    private static bool PerChannel(long[] shape, Kind kind, long outputs, int outputRank)
    {
        if (shape.Length == 0 || shape.Aggregate(1L, (p, q) => p * q) != outputs) return false;
        if (kind is Kind.Gemm or Kind.MatMul) return shape[^1] == outputs;
        int channel = shape.Length - (outputRank - 1);
        return channel >= 0 && shape[channel] == outputs;
    }

    private bool Intercept => _sink != Sink.None;

    /// <summary>Output channels the layer keeps, in the dense output's numbering.</summary>
    public long KeptOutputs => _keptOut.Length;

    /// <summary>The layer's output value (the same name in the dense and the pruned graph).</summary>
    public string Output => _node.Output;

    /// <summary>The layer's input value (its regressors are cut from it).</summary>
    public string Input => _node.Inputs[0];

    /// <summary>
    /// The regression positions of one batch of <paramref name="batch"/> images whose layer output has shape
    /// <paramref name="outputShape"/> (batch axis included, any batch size): flat indices for a matrix product (null:
    /// every row), else <c>batch × P</c> output positions per image. Drawn from <paramref name="rng"/>, layer by layer
    /// and batch by batch.
    /// </summary>
    public long[]? SamplePositions(long[] outputShape, long batch, int positionsPerImage, Random rng)
    {
        if (_kind is Kind.Gemm or Kind.MatMul)
        {
            long perImage = outputShape[1..^1].Aggregate(1L, (p, q) => p * q);
            return perImage <= positionsPerImage ? null : Sample(batch, perImage, positionsPerImage, rng, flat: true);
        }
        long positions = outputShape[2..].Aggregate(1L, (p, q) => p * q);
        return Sample(batch, positions, Math.Min(positions, positionsPerImage), rng, flat: false);
    }

    /// <summary>
    /// Cuts the targets of one batch from the dense layer's output <paramref name="y"/> (kept channels only) at
    /// <paramref name="sample"/> (<see cref="SamplePositions"/>): (positions, targets (S, O)); positions are (N, P)
    /// output positions of a convolution, or (S) flat row indices of a matrix product (null: every row).
    /// </summary>
    public (Tensor? Positions, Tensor Targets) Targets(Tensor y, long[]? sample)
    {
        using var kept = tensor(_keptOut, device: y.device);
        if (_kind is Kind.Gemm or Kind.MatMul)
        {
            var t = y.reshape(-1, y.shape[^1]).index_select(1, kept);                    // (rows, O)
            if (sample is null) return (null, t);
            var pick = tensor(sample, device: y.device);
            return (pick, t.index_select(0, pick));
        }
        long batch = y.shape[0];
        _outSpatial = y.shape[2..]; // the pruned layer's output has the dense one's spatial shape
        long positions = _outSpatial.Aggregate(1L, (p, q) => p * q);
        long count = sample!.Length / batch;
        var q = tensor(sample, device: y.device).reshape(batch, count);                                            // (N, P) flat output positions
        var at = y.reshape(batch, y.shape[1], positions).gather(2, q.unsqueeze(1).expand(batch, y.shape[1], count)); // (N, C, P): only the samples
        return (q, at.index_select(1, kept).permute(0, 2, 1).reshape(batch * count, kept.shape[0]));
    }

    /// <summary>Where one refit's time goes: cutting regression rows (im2col), accumulating the normal equations, solving them.</summary>
    public sealed class Clocks
    {
        /// <summary>Cutting regression rows.</summary>
        public readonly System.Diagnostics.Stopwatch Rows = new();
        /// <summary>Accumulating XᵀX and XᵀY.</summary>
        public readonly System.Diagnostics.Stopwatch Gram = new();
        /// <summary>Solving and writing the weights.</summary>
        public readonly System.Diagnostics.Stopwatch Solve = new();
    }

    /// <summary>One layer's normal equations being accumulated: per convolution group XᵀX, XᵀY (float64) and ‖Y‖².</summary>
    internal sealed class Equations(long groups) : IDisposable
    {
        /// <summary>XᵀX per group, (D+1 or D)², the intercept last.</summary>
        public readonly Tensor?[] Gram = new Tensor?[groups];
        /// <summary>XᵀY per group, (D+1 or D) × O_g.</summary>
        public readonly Tensor?[] Cross = new Tensor?[groups];
        /// <summary>‖Y‖² per group.</summary>
        public readonly double[] Total = new double[groups];
        /// <summary>Rows so far.</summary>
        public long Samples;
        /// <summary>Regressors per output, intercept included.</summary>
        public long Regressors;

        public void Dispose()
        {
            foreach (var t in Gram) t?.Dispose();
            foreach (var t in Cross) t?.Dispose();
        }
    }

    private long Groups => _kind is Kind.Conv or Kind.ConvTranspose ? _node.Int("group", 1) : 1;

    /// <summary>Empty equations for this layer.</summary>
    public Equations Begin() => new(Groups);

    /// <summary>
    /// Adds one batch to <paramref name="eq"/>: regression rows cut from the pruned input <paramref name="x"/> at
    /// <paramref name="positions"/>, and the targets <paramref name="stored"/> the dense pass cut there (<see cref="Targets"/>).
    /// </summary>
    public void Accumulate(GraphModule module, Equations eq, Tensor x, Tensor? positions, Tensor stored, Clocks clocks)
    {
        using var scope = NewDisposeScope();
        var w = module.Tensor(_node.Inputs[1]);
        long groups = Groups, perGroup = _keptOut.Length / groups;
        clocks.Rows.Start();
        var all = stored.to_type(x.dtype);
        var rows = Rows(x, w, positions);
        long s = all.shape[0];
        eq.Samples += s;
        clocks.Rows.Stop();
        for (long gi = 0; gi < groups; gi++)
        {
            clocks.Rows.Start();
            var a = rows(gi);                                                       // (S, D)
            var t = all.narrow(1, gi * perGroup, perGroup);                         // (S, O_g)
            clocks.Rows.Stop();
            clocks.Gram.Start();
            long d = a.shape[1], n = d + (Intercept ? 1 : 0);
            eq.Regressors = n;
            var g = eq.Gram[gi] ??= zeros(n, n, ScalarType.Float64, a.device).DetachFromDisposeScope();
            var h = eq.Cross[gi] ??= zeros(n, perGroup, ScalarType.Float64, a.device).DetachFromDisposeScope();
            var gd = g.narrow(0, 0, d).narrow(1, 0, d);
            var hd = h.narrow(0, 0, d);
            Tensor sums;
            if (d <= Float64Regressors)
            {
                var a64 = a.to_type(ScalarType.Float64);
                gd.add_(a64.t().mm(a64));
                hd.add_(a64.t().mm(t.to_type(ScalarType.Float64)));
                sums = a64.sum([0]);
            }
            else
            {
                a = a.to_type(ScalarType.Float32);
                AddGram(gd, a);
                hd.add_(a.t().mm(t.to_type(ScalarType.Float32)).to_type(ScalarType.Float64));
                sums = a.sum([0]).to_type(ScalarType.Float64);
            }
            var t64 = t.to_type(ScalarType.Float64);
            if (Intercept)
            {
                // The constant regressor's products: column sums, the row count, and the targets' sums.
                g.narrow(0, d, 1).narrow(1, 0, d).add_(sums.unsqueeze(0));
                g.narrow(0, 0, d).narrow(1, d, 1).add_(sums.unsqueeze(1));
                using var rows0 = ((double)s).ToScalar();
                g.narrow(0, d, 1).narrow(1, d, 1).add_(rows0);
                h.narrow(0, d, 1).add_(t64.sum([0]).unsqueeze(0));
            }
            eq.Total[gi] += t64.square().sum().item<double>();
            clocks.Gram.Stop();
        }
    }

    // Regressors above which XᵀX is computed as blocks of about this many columns, the upper block triangle only (the
    // product is symmetric): 7 blocks of a 3,232-regressor layer cost 28 products of 49, 57% of the full product.
    private const long GramBlock = 512;

    /// <summary>Adds aᵀa (float32 products, float64 sums) to <paramref name="gram"/>, computing each off-diagonal block once.</summary>
    private static void AddGram(Tensor gram, Tensor a)
    {
        long d = a.shape[1];
        if (d <= GramBlock)
        {
            gram.add_(a.t().mm(a).to_type(ScalarType.Float64));
            return;
        }
        long blocks = (d + GramBlock - 1) / GramBlock, width = (d + blocks - 1) / blocks;
        for (long i = 0; i < d; i += width)
        {
            long wi = Math.Min(width, d - i);
            var ai = a.narrow(1, i, wi).t();
            for (long j = i; j < d; j += width)
            {
                long wj = Math.Min(width, d - j);
                using var block = ai.mm(a.narrow(1, j, wj)).to_type(ScalarType.Float64);
                gram.narrow(0, i, wi).narrow(1, j, wj).add_(block);
                if (j != i) gram.narrow(0, j, wj).narrow(1, i, wi).add_(block.t());
            }
        }
    }

    /// <summary>Solves the accumulated <paramref name="eq"/> and writes the weights into <paramref name="module"/> (kept only where they fit better).</summary>
    public RefitLayer Solve(GraphModule module, Equations eq, RefitOptions options, Clocks clocks)
    {
        var w = module.Tensor(_node.Inputs[1]);
        long groups = Groups, perGroup = _keptOut.Length / groups;
        double before = 0, after = 0, energy = 0;
        clocks.Solve.Start();
        for (long gi = 0; gi < groups; gi++)
        {
            using var scope = NewDisposeScope();
            var old = Current(module, w, gi, perGroup);                              // (D+1 or D, O_g) float64
            var solved = Solve(eq.Gram[gi]!, eq.Cross[gi]!, old, options.Ridge, Intercept);
            double rOld = Residual(eq.Gram[gi]!, eq.Cross[gi]!, eq.Total[gi], old), rNew = Residual(eq.Gram[gi]!, eq.Cross[gi]!, eq.Total[gi], solved);
            energy += eq.Total[gi];
            before += rOld;
            if (rNew < rOld)
            {
                Write(module, w, gi, perGroup, solved);
                after += rNew;
            }
            else after += rOld;
        }
        clocks.Solve.Stop();
        double scale = energy > 0 ? 1 / energy : 0;
        return new RefitLayer(_node.Name, eq.Regressors, eq.Samples, Math.Max(0, before * scale), Math.Max(0, after * scale));
    }

    // Regressors above which per-batch products are computed in float32 (then accumulated in float64): below it the
    // float64 products cost little; above it they were half of ResNet-50's refit time (benchmarks/refit, cost).
    private const long Float64Regressors = 256;

    /// <summary>Regression rows per convolution group from pruned input <paramref name="x"/> at the sampled <paramref name="positions"/>.</summary>
    private Func<long, Tensor> Rows(Tensor x, Tensor w, Tensor? positions)
    {
        if (_kind is Kind.Gemm or Kind.MatMul)
        {
            var a = x.reshape(-1, x.shape[^1]);                                          // (rows, K)
            if (positions is not null) a = a.index_select(0, positions);
            return _ => a;
        }
        var q = positions!;
        long groups = _node.Int("group", 1);
        var (padded, kernel, strides, dilations) = _kind == Kind.Conv ? ConvInput(x, w) : TransposedInput(x, w);
        var outSpatial = _outSpatial!;
        long perGroup = padded.shape[1] / groups;
        return gi => Patches(padded.narrow(1, gi * perGroup, perGroup), kernel, strides, dilations, outSpatial, q);
    }

    /// <summary>Padded input of a Conv and its window.</summary>
    private (Tensor, long[], long[], long[]) ConvInput(Tensor x, Tensor w)
    {
        var g = ConvGeometry.Of(_node, x.shape, w.shape[2..]);
        return (Pad(x, g.PadsBegin, g.PadsEnd), g.Kernel, g.Strides, g.Dilations);
    }

    /// <summary>
    /// A ConvTranspose as the plain convolution it equals: the input with (stride − 1) zeros between pixels, padded by
    /// dilation·(kernel − 1) minus the begin pad (the end pad reaches the output size), correlated at stride 1 with the
    /// spatially flipped, in/out-swapped kernel (<see cref="Current"/> and <see cref="Write"/> do the weight side).
    /// </summary>
    private (Tensor, long[], long[], long[]) TransposedInput(Tensor x, Tensor w)
    {
        var g = ConvTransposeOp.Geometry(_node, x.shape, w.shape);
        int r = (int)x.dim() - 2;
        var kernel = w.shape[2..];
        var stuffedShape = x.shape.ToArray();
        for (int i = 0; i < r; i++) stuffedShape[i + 2] = (x.shape[i + 2] - 1) * g.Strides[i] + 1;
        var stuffed = zeros(stuffedShape, x.dtype, x.device);
        var view = stuffed;
        for (int i = 0; i < r; i++) view = view.slice(i + 2, 0, stuffedShape[i + 2], g.Strides[i]);
        view.copy_(x);
        var begin = new long[r];
        var end = new long[r];
        for (int i = 0; i < r; i++)
        {
            begin[i] = g.Dilations[i] * (kernel[i] - 1) - g.PadsBegin[i];
            end[i] = g.Output[i] + g.Dilations[i] * (kernel[i] - 1) - stuffedShape[i + 2] - begin[i];
        }
        return (Pad(stuffed, begin, end), kernel, Enumerable.Repeat(1L, r).ToArray(), g.Dilations);
    }

    private static Tensor Pad(Tensor x, long[] begin, long[] end)
    {
        if (begin.All(v => v == 0) && end.All(v => v == 0)) return x;
        var pad = new long[begin.Length * 2];
        // F.pad lists the last dimension first; negative pads crop.
        for (int i = 0; i < begin.Length; i++)
        {
            pad[2 * i] = begin[begin.Length - 1 - i];
            pad[2 * i + 1] = end[begin.Length - 1 - i];
        }
        return F.pad(x, pad, PaddingModes.Constant, 0);
    }

    /// <summary>
    /// im2col at sampled positions for any spatial rank: rows (N·P, C·taps), columns channel-major and taps in
    /// row-major kernel order, the layout of a (O, C, k…) weight reshaped to (O, C·taps). One gather from the padded input.
    /// </summary>
    private static Tensor Patches(Tensor padded, long[] kernel, long[] strides, long[] dilations, long[] outSpatial, Tensor q)
    {
        long n = padded.shape[0], c = padded.shape[1], p = q.shape[1];
        int r = kernel.Length;
        var sp = padded.shape[2..];
        var pitch = new long[r];
        for (int i = r - 1, acc = 1; i >= 0; i--) { pitch[i] = acc; acc *= (int)sp[i]; }
        // Flat input index of each sampled position's window origin.
        var rest = q;
        Tensor? origin = null;
        for (int i = r - 1; i >= 0; i--)
        {
            var o = rest.remainder(outSpatial[i]);
            rest = rest.div(outSpatial[i], rounding_mode: RoundingMode.floor);
            var term = o * (strides[i] * pitch[i]);
            origin = origin is null ? term : origin + term;
        }
        long taps = kernel.Aggregate(1L, (a, b) => a * b);
        var offsets = new long[taps];
        for (long t = 0; t < taps; t++)
        {
            long rem = t, off = 0;
            for (int i = r - 1; i >= 0; i--)
            {
                off += rem % kernel[i] * dilations[i] * pitch[i];
                rem /= kernel[i];
            }
            offsets[t] = off;
        }
        var index = (origin!.unsqueeze(-1) + tensor(offsets, device: q.device)).reshape(n, 1, p * taps).expand(n, c, p * taps); // (N, C, P·taps)
        var gathered = padded.reshape(n, c, -1).gather(2, index).reshape(n, c, p, taps);
        return gathered.permute(0, 2, 1, 3).reshape(n * p, c * taps);
    }

    /// <summary>Distinct positions per image: (N·P) flat indices into (N, L) when <paramref name="flat"/>, else positions within each image.</summary>
    private static long[] Sample(long images, long positions, long take, Random rng, bool flat)
    {
        var result = new long[images * take];
        var pool = Enumerable.Range(0, (int)positions).Select(i => (long)i).ToArray();
        for (long n = 0; n < images; n++)
        {
            // Partial Fisher–Yates: the first `take` entries become a uniform sample without replacement.
            for (long j = 0; j < take; j++)
            {
                long k = j + rng.NextInt64(positions - j);
                (pool[j], pool[k]) = (pool[k], pool[j]);
                result[n * take + j] = flat ? n * positions + pool[j] : pool[j];
            }
        }
        return result;
    }

    /// <summary>The current weights of group <paramref name="gi"/> as regressors × outputs (float64), with the bias row when fitted.</summary>
    private Tensor Current(GraphModule module, Tensor w, long gi, long perGroup)
    {
        var eq = EquivalentWeight(w, gi, perGroup).to_type(ScalarType.Float64).t();      // (D, O_g)
        if (!Intercept) return eq;
        var bias = _sink == Sink.OwnBias
            ? module.Tensor(_sinkTensor!).reshape(-1).narrow(0, gi * perGroup, perGroup).to_type(ScalarType.Float64) * (_kind == Kind.Gemm ? _node.Float("beta", 1f) : 1.0)
            : zeros(perGroup, ScalarType.Float64, w.device);
        return cat([eq, bias.unsqueeze(0)], 0);
    }

    /// <summary>(O_g, D) weights of group <paramref name="gi"/> in the regressors' layout.</summary>
    private Tensor EquivalentWeight(Tensor w, long gi, long perGroup) => _kind switch
    {
        Kind.Conv => w.narrow(0, gi * perGroup, perGroup).reshape(perGroup, -1),
        Kind.ConvTranspose => FlipSpatial(w.narrow(0, gi * (w.shape[0] / _node.Int("group", 1)), w.shape[0] / _node.Int("group", 1)))
            .transpose(0, 1).reshape(perGroup, -1),
        Kind.Gemm => (_node.Int("transB", 0) != 0 ? w : w.t()) * _node.Float("alpha", 1f),
        _ => w.t(),
    };

    private static Tensor FlipSpatial(Tensor w) => w.flip(Enumerable.Range(2, (int)w.dim() - 2).Select(i => (long)i).ToArray());

    /// <summary>Writes the solution of group <paramref name="gi"/> into the module's weight and bias sink.</summary>
    private void Write(GraphModule module, Tensor w, long gi, long perGroup, Tensor solved)
    {
        long d = solved.shape[0] - (Intercept ? 1 : 0);
        var eq = solved.narrow(0, 0, d).t().to_type(w.dtype);                          // (O_g, D)
        switch (_kind)
        {
            case Kind.Conv:
                w.narrow(0, gi * perGroup, perGroup).copy_(eq.reshape(w.narrow(0, gi * perGroup, perGroup).shape));
                break;
            case Kind.ConvTranspose:
                long inPerGroup = w.shape[0] / _node.Int("group", 1);
                var block = w.narrow(0, gi * inPerGroup, inPerGroup);                       // (C_g, O_g, k…)
                long[] swapped = [block.shape[1], block.shape[0], .. block.shape[2..]];
                block.copy_(FlipSpatial(eq.reshape(swapped).transpose(0, 1)));
                break;
            case Kind.Gemm:
                var scaled = eq / _node.Float("alpha", 1f);
                w.copy_(_node.Int("transB", 0) != 0 ? scaled : scaled.t());
                break;
            default:
                w.copy_(eq.t());
                break;
        }
        if (!Intercept) return;
        var bias = solved[-1].to_type(w.dtype);                                          // (O_g)
        var target = module.Tensor(_sinkTensor!);
        var slot = target.reshape(-1).narrow(0, gi * perGroup, perGroup);
        switch (_sink)
        {
            case Sink.OwnBias:
                slot.copy_(_kind == Kind.Gemm ? bias / _node.Float("beta", 1f) : bias);
                break;
            case Sink.BatchNormMean:
                // BN(y + b) with mean μ is BN(y) with mean μ − b.
                slot.sub_(bias);
                break;
            default:
                slot.add_(bias);
                break;
        }
    }

    /// <summary>Ridge solution pulled towards <paramref name="prior"/> (the bias row is not penalised).</summary>
    private static Tensor Solve(Tensor gram, Tensor cross, Tensor prior, double ridge, bool intercept)
    {
        long d = gram.shape[0] - (intercept ? 1 : 0);
        var diag = gram.diagonal().narrow(0, 0, d);
        double lambda = ridge * Math.Max(diag.mean().item<double>(), 1e-12);
        var a = gram.clone();
        a.diagonal().narrow(0, 0, d).add_(lambda);
        var rhs = cross.clone();
        rhs.narrow(0, 0, d).add_(prior.narrow(0, 0, d) * lambda);
        var (l, info) = linalg.cholesky_ex(a);
        if (info.max().item<int>() == 0) return cholesky_solve(rhs, l);
        // Singular without a ridge (a dead input channel, more regressors than samples): the minimum-norm solution.
        return linalg.pinv(a).mm(rhs);
    }

    /// <summary>‖A W − T‖² from the normal equations: Σ W∘(G W) − 2 Σ W∘H + ‖T‖².</summary>
    private static double Residual(Tensor gram, Tensor cross, double energy, Tensor w) =>
        (w * gram.mm(w)).sum().item<double>() - 2 * (w * cross).sum().item<double>() + energy;
}
