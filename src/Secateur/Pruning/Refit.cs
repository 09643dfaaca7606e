using System.Diagnostics;
using System.Globalization;
using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Pruning;

/// <summary>How <see cref="Refit"/> refits the layers that read pruned channels.</summary>
public sealed record RefitOptions
{
    /// <summary>Calibration images the normal equations are accumulated over.</summary>
    public int Images { get; init; } = 256;

    /// <summary>
    /// Ridge strength relative to the mean diagonal of each layer's Gram matrix XᵀX (scale-free); the penalty pulls
    /// towards the pruned layer's own weights, so a large value leaves the layer as pruning left it.
    /// </summary>
    public double Ridge { get; init; } = 1e-3;

    /// <summary>Output positions sampled per image for convolutions (all positions when the map is smaller).</summary>
    public int PositionsPerImage { get; init; } = 64;

    /// <summary>Images per forward batch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Seed of the position sampling.</summary>
    public int Seed { get; init; }

    /// <summary>Device name (cpu, cuda, cuda:N).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The <see cref="SecateurException.Parameter"/> of a bad <see cref="Images"/> (prefixed: other options have images too).</summary>
    public const string ImagesParameter = "RefitImages";
    /// <summary>The <see cref="SecateurException.Parameter"/> of a bad <see cref="Ridge"/>.</summary>
    public const string RidgeParameter = "RefitRidge";
    /// <summary>The <see cref="SecateurException.Parameter"/> of a bad <see cref="PositionsPerImage"/>.</summary>
    public const string PositionsParameter = "RefitPositionsPerImage";
    /// <summary>The <see cref="SecateurException.Parameter"/> of a bad <see cref="BatchSize"/>.</summary>
    public const string BatchSizeParameter = "RefitBatchSize";

    /// <summary>Checks every value; throws <see cref="SecateurException"/> (BadArgument) naming the parameter (the constants above).</summary>
    public RefitOptions Validated()
    {
        if (Images < 1) Fail($"refit needs at least 1 calibration image (got {Images})", ImagesParameter);
        if (!(Ridge >= 0) || double.IsInfinity(Ridge)) Fail($"the refit ridge must be a finite number of at least 0 (got {Ridge.ToString(CultureInfo.InvariantCulture)})", RidgeParameter);
        if (PositionsPerImage < 1) Fail($"refit positions per image must be at least 1 (got {PositionsPerImage})", PositionsParameter);
        if (BatchSize < 1) Fail($"the refit batch size must be at least 1 (got {BatchSize})", BatchSizeParameter);
        return this;
    }

    private static void Fail(string message, string parameter) => throw new SecateurException(ErrorCode.BadArgument, message, parameter);
}

/// <summary>What the refit did to one layer.</summary>
/// <param name="Node">The layer.</param>
/// <param name="Inputs">Regressors per output (input channels × kernel taps of one convolution group, plus the bias).</param>
/// <param name="Samples">Rows of the regression (sampled positions × images).</param>
/// <param name="ErrorBefore">Relative squared error ‖Y − Ŷ‖² / ‖Y‖² of the pruned layer against the dense one on the samples.</param>
/// <param name="ErrorAfter">The same after the refit (equal to <paramref name="ErrorBefore"/> when the solution was not better and was dropped).</param>
public sealed record RefitLayer(string Node, long Inputs, long Samples, double ErrorBefore, double ErrorAfter);

/// <summary>The refit graph and what was done to each layer.</summary>
/// <param name="Graph">The pruned graph with refit weights.</param>
/// <param name="Layers">Every refit layer, in topological order.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record RefitResult(ModelGraph Graph, IReadOnlyList<RefitLayer> Layers, double Seconds);

/// <summary>
/// Least-squares refit after pruning: every layer that reads a pruned group (Conv of any kernel, stride, dilation,
/// padding and group; ConvTranspose; Gemm; MatMul with a constant weight) gets new weights so that, from the channels
/// that remain, it reproduces the dense model's pre-activation output on calibration images — the seed's
/// input–output reconstruction min ‖W X − Y‖² solved rather than only used for scoring. The pruned model is run node
/// by node over all calibration images at once, so a layer's inputs come from the already-refit pruned model; its
/// targets come from the dense model (restricted to the output channels that were kept), which is run first, batch by
/// batch, keeping only the targets at the sampled positions: errors do not accumulate.
/// <para>
/// Each layer is a ridge regression on input patches (im2col) at <see cref="RefitOptions.PositionsPerImage"/> sampled
/// output positions per image; the normal equations XᵀX and XᵀY are accumulated in float64 (per-batch products in
/// float32 for layers with more than 256 regressors, where float64 products would dominate the run), one layer at
/// a time, and solved per convolution group by a Cholesky factorisation for all its output channels at once. The
/// bias is fitted too: into the layer's own bias, else folded into a following batch norm's running mean or a
/// following Add of a per-channel constant; a layer with none of them is fitted without one. A solution that fits the
/// samples worse than the pruned weights (possible only with a large ridge) is dropped.
/// </para>
/// <para>
/// Memory: one layer's equations at a time, Σ over its groups of (D+1)·(D+1+O) doubles for D regressors and O outputs
/// (ResNet-50's widest 3×3 layer pruned 2×: about 90 MB); the dense targets at the sampled positions (float32, or
/// float16 when they would exceed 256 MB), freed layer by layer; and the pruned model's live activations for all
/// calibration images, which dominates for large inputs. The dense model's activations are held for one batch only.
/// </para>
/// </summary>
public static class Refit
{
    /// <summary>Refits the layers of <paramref name="pruned"/>, the result of applying <paramref name="plan"/>, that read pruned channels.</summary>
    /// <param name="plan">The removal; its <see cref="PruningPlan.Dependencies"/> graph is the dense model the targets come from.</param>
    /// <param name="pruned">The pruned graph (<see cref="PruningPlan.Apply"/>), not modified.</param>
    /// <param name="data">Calibration images (labels unused).</param>
    /// <param name="options">Images, ridge, sampling (defaults when null).</param>
    /// <param name="progress">Receives a line per refit layer (null: silent).</param>
    public static RefitResult Run(PruningPlan plan, ModelGraph pruned, IBatchSource data, RefitOptions? options = null, IWorkflowProgress? progress = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(pruned);
        ArgumentNullException.ThrowIfNull(data);
        options = (options ?? new RefitOptions()).Validated();
        progress ??= WorkflowProgress.Silent;
        var clock = Stopwatch.StartNew();
        var dense = plan.Dependencies.Graph;
        if (dense.Nodes.Count != pruned.Nodes.Count || dense.Nodes.Zip(pruned.Nodes).Any(p => p.First.Name != p.Second.Name))
            throw new SecateurException(ErrorCode.BadArgument, "the pruned graph is not the plan's graph with channels removed", nameof(pruned));
        if (dense.Inputs.Count != 1)
            throw new SecateurException(ErrorCode.UnsupportedOp, $"refit runs models with one image input; {dense.Name} has {dense.Inputs.Count}");
        var layers = RefitLayers.Find(plan, pruned);
        if (layers.Count == 0) return new RefitResult(pruned, [], clock.Elapsed.TotalSeconds);
        progress.Log($"least-squares refit of {layers.Count} layer{(layers.Count == 1 ? "" : "s")} on up to {options.Images} images ...");

        var device = Devices.Parse(options.Device);
        using var denseModule = new GraphModule(dense, device);
        using var prunedModule = new GraphModule(pruned, device);
        denseModule.eval();
        prunedModule.eval();
        var done = new List<RefitLayer>();
        var byNode = layers.ToDictionary(l => l.Index);
        var targets = new Dictionary<int, List<(Tensor? Positions, Tensor Targets)>>();
        var clocks = new RefitLayers.Clocks();
        double denseSeconds, prunedSeconds = 0;
        try
        {
            using (no_grad())
            {
                var images = Images(data, options.Images, device);
                // The positions, drawn layer by layer and batch by batch, before any forward.
                var shapes = ShapeInference.Infer(dense);
                var generator = new Random(options.Seed);
                var samples = layers.ToDictionary(l => l.Index, l => images.Select(x => l.SamplePositions(shapes[l.Output], x.shape[0], options.PositionsPerImage, generator)).ToList());
                // The dense model streams batch by batch and leaves only each layer's targets at its sampled positions
                // (float32, or float16 beyond the budget); only the pruned model runs node by node over all images.
                long bytes = layers.Sum(l => Enumerable.Range(0, images.Count)
                    .Sum(b => (samples[l.Index][b]?.LongLength ?? images[b].shape[0] * RowsPerImage(shapes[l.Output])) * l.KeptOutputs * 4L));
                var store = bytes > TargetBudgetBytes ? ScalarType.Float16 : ScalarType.Float32;
                var clock0 = Stopwatch.StartNew();
                for (int b = 0; b < images.Count; b++)
                {
                    using var scope = NewDisposeScope();
                    DenseBatch(denseModule, images[b], byNode, l => samples[l.Index][b], store, targets);
                }
                denseSeconds = clock0.Elapsed.TotalSeconds;
                progress.Log(string.Create(CultureInfo.InvariantCulture,
                    $"refit: dense targets of {layers.Count} layers at sampled positions, {bytes * (store == ScalarType.Float16 ? 0.5 : 1) / 1048576.0:0} MB in {(store == ScalarType.Float16 ? "float16" : "float32")}, in {denseSeconds:0.0} s"));
                using var p = new Stepper(prunedModule, images);
                foreach (var t in images) t.Dispose();
                for (int i = 0; i < pruned.Nodes.Count; i++)
                {
                    if (byNode.TryGetValue(i, out var layer))
                    {
                        double s0 = clocks.Solve.Elapsed.TotalSeconds, g0 = clocks.Gram.Elapsed.TotalSeconds;
                        var r = layer.Fit(prunedModule, p, targets[i], options, clocks);
                        foreach (var (q, t) in targets[i])
                        {
                            q?.Dispose();
                            t.Dispose();
                        }
                        targets.Remove(i);
                        done.Add(r);
                        progress.Log(string.Create(CultureInfo.InvariantCulture,
                            $"refit {done.Count}/{layers.Count} {r.Node}: {r.Inputs} inputs × {r.Samples:N0} samples, relative error {r.ErrorBefore:0.####} -> {r.ErrorAfter:0.####} (equations {clocks.Gram.Elapsed.TotalSeconds - g0:0.0} s, solve {clocks.Solve.Elapsed.TotalSeconds - s0:0.0} s)"));
                    }
                    var stepClock = Stopwatch.StartNew();
                    p.Step(i);
                    p.Release(i);
                    prunedSeconds += stepClock.Elapsed.TotalSeconds;
                }
            }
        }
        finally
        {
            foreach (var list in targets.Values)
                foreach (var (q, t) in list)
                {
                    q?.Dispose();
                    t.Dispose();
                }
        }
        progress.Log(string.Create(CultureInfo.InvariantCulture,
            $"refit: {clock.Elapsed.TotalSeconds:0.0} s: dense forward {denseSeconds:0.0} s, pruned forward {prunedSeconds:0.0} s, sampling rows {clocks.Rows.Elapsed.TotalSeconds:0.0} s, normal equations {clocks.Gram.Elapsed.TotalSeconds:0.0} s, solves {clocks.Solve.Elapsed.TotalSeconds:0.0} s"));
        return new RefitResult(prunedModule.ToGraph(), done, clock.Elapsed.TotalSeconds);
    }

    // Dense targets above this size are kept in float16 (relative rounding 5e-4, well below a pruned layer's fit error).
    private const long TargetBudgetBytes = 256L << 20;

    private static long RowsPerImage(long[] shape) => shape.Length > 2 ? shape[1..^1].Aggregate(1L, (a, b) => a * b) : 1;

    /// <summary>Runs the dense model on one batch, keeping every value until its last use, and cuts each refit layer's targets.</summary>
    private static void DenseBatch(GraphModule module, Tensor x, Dictionary<int, RefitLayers> layers, Func<RefitLayers, long[]?> sample,
        ScalarType store, Dictionary<int, List<(Tensor?, Tensor)>> targets)
    {
        var graph = module.Graph;
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [graph.Inputs[0].Name] = x };
        var lastUse = LastUse(graph);
        try
        {
            for (int i = 0; i < graph.Nodes.Count; i++)
            {
                var node = graph.Nodes[i];
                // One scope per node: a kernel's temporaries go with it, not at the end of the batch.
                using (var scope = NewDisposeScope())
                {
                    var y = Kernels.For(node)(new KernelCall(module, node, values));
                    if (layers.TryGetValue(i, out var layer))
                    {
                        var (q, t) = layer.Targets(y, sample(layer));
                        t = t.to_type(store).contiguous();
                        q?.DetachFromDisposeScope();
                        t.DetachFromDisposeScope();
                        if (!targets.TryGetValue(i, out var list)) targets[i] = list = [];
                        list.Add((q, t));
                    }
                    y.DetachFromDisposeScope();
                    values[node.Output] = y;
                }
                foreach (var v in node.Inputs.Append(node.Output).Distinct())
                    if (lastUse.TryGetValue(v, out int last) && last == i && v != graph.Inputs[0].Name && values.Remove(v, out var dead)) dead.Dispose();
            }
        }
        finally
        {
            foreach (var (name, t) in values)
                if (name != graph.Inputs[0].Name) t.Dispose();
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ModelGraph, Dictionary<string, int>> LastUses = new();

    /// <summary>The node index that last reads each value (a value nobody reads: the node that makes it).</summary>
    private static Dictionary<string, int> LastUse(ModelGraph graph) => LastUses.GetValue(graph, g =>
    {
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            last.TryAdd(g.Nodes[i].Output, i);
            foreach (var v in g.Nodes[i].Inputs.Where(v => v.Length > 0)) last[v] = i;
        }
        return last;
    });

    /// <summary>Up to <paramref name="count"/> images as batches on the device.</summary>
    private static List<Tensor> Images(IBatchSource data, int count, Device device)
    {
        var result = new List<Tensor>();
        int seen = 0;
        foreach (var batch in data.Epoch(0))
        {
            var take = Math.Min(batch.Count, count - seen);
            var (x, y) = Trainer.ToTensors(batch, device);
            y.Dispose();
            var kept = take < batch.Count ? x.narrow(0, 0, take).clone() : x;
            if (!ReferenceEquals(kept, x)) x.Dispose();
            kept.DetachFromDisposeScope();
            result.Add(kept);
            seen += take;
            if (seen >= count) break;
        }
        if (result.Count == 0) throw new SecateurException(ErrorCode.BadArgument, "refit needs calibration images and the data has none", ParameterNames.Data);
        return result;
    }

    /// <summary>
    /// Runs one graph node by node over all calibration batches, keeping every value until its last use: the refit
    /// of a layer must see the outputs of every earlier refit layer on all images before it is solved.
    /// </summary>
    internal sealed class Stepper : IDisposable
    {
        private readonly GraphModule _module;
        private readonly List<Dictionary<string, Tensor>> _values;
        private readonly Dictionary<string, int> _lastUse = new(StringComparer.Ordinal);

        public Stepper(GraphModule module, IReadOnlyList<Tensor> images)
        {
            _module = module;
            var graph = module.Graph;
            string input = graph.Inputs[0].Name;
            _values = images.Select(x =>
            {
                var c = x.alias();
                c.DetachFromDisposeScope();
                return new Dictionary<string, Tensor>(StringComparer.Ordinal) { [input] = c };
            }).ToList();
            for (int i = 0; i < graph.Nodes.Count; i++)
            {
                _lastUse.TryAdd(graph.Nodes[i].Output, i); // a value nobody reads goes right after it is made
                foreach (var v in graph.Nodes[i].Inputs.Where(v => v.Length > 0)) _lastUse[v] = i;
            }
        }

        /// <summary>Batches.</summary>
        public int Count => _values.Count;

        /// <summary>The value <paramref name="name"/> of batch <paramref name="b"/>, or an initializer's live tensor.</summary>
        public Tensor Value(int b, string name) => _values[b].TryGetValue(name, out var t) ? t : _module.Tensor(name);

        /// <summary>Computes node <paramref name="i"/> on every batch.</summary>
        public void Step(int i)
        {
            var node = _module.Graph.Nodes[i];
            var kernel = Kernels.For(node);
            foreach (var values in _values)
            {
                using var scope = NewDisposeScope();
                var y = kernel(new KernelCall(_module, node, values));
                y.DetachFromDisposeScope();
                values[node.Output] = y;
            }
        }

        /// <summary>Frees every value whose last reader is node <paramref name="i"/>.</summary>
        public void Release(int i)
        {
            var node = _module.Graph.Nodes[i];
            foreach (var v in node.Inputs.Append(node.Output).Distinct())
                if (_lastUse.TryGetValue(v, out int last) && last == i)
                    foreach (var values in _values)
                        if (values.Remove(v, out var t)) t.Dispose();
        }

        public void Dispose()
        {
            foreach (var values in _values)
                foreach (var t in values.Values) t.Dispose();
            _values.Clear();
        }
    }
}
