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
/// input–output reconstruction min ‖W X − Y‖² solved rather than only used for scoring. Layers are solved in
/// topological order, so a layer's inputs come from the already-refit pruned model; its targets come from the dense
/// model (restricted to the output channels that were kept): errors do not accumulate.
/// <para>
/// Both models stream batch by batch. The dense model runs once and leaves only each layer's targets at its sampled
/// positions. The pruned model advances from one refit layer to the next: batch by batch, it runs the nodes between
/// them and keeps only the values a later node still reads (float32, or float16 when they would exceed 256 MB for all
/// images); each batch's regression rows are folded into the normal equations as soon as the layer's input exists.
/// </para>
/// <para>
/// Each layer is a ridge regression on input patches (im2col) at <see cref="RefitOptions.PositionsPerImage"/> sampled
/// output positions per image; the normal equations XᵀX and XᵀY are accumulated in float64 (per-batch products in
/// float32, XᵀX as the upper block triangle only, for layers with more than 256 regressors, where float64 products
/// would dominate the run), and solved per convolution group by a float64 Cholesky factorisation for all its output
/// channels at once. The bias is fitted too: into the layer's own bias, else folded into a following batch norm's
/// running mean or a following Add of a per-channel constant; a layer with none of them is fitted without one. A
/// solution that fits the samples worse than the pruned weights (possible only with a large ridge) is dropped.
/// </para>
/// <para>
/// Memory: one batch's activations of one model at a time; one layer's equations, Σ over its groups of
/// (D+1)·(D+1+O) doubles for D regressors and O outputs (ResNet-50's widest 3×3 layer pruned 2×: about 90 MB); and per
/// calibration image, the dense targets at the sampled positions (float32, or float16 when they would exceed
/// 256 MB; freed layer by layer) and the pruned model's values that are live between two refit layers.
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
        => Run(plan, pruned, data, options, progress, StoreBudgetBytes, out _);

    /// <summary>
    /// <see cref="Run(PruningPlan, ModelGraph, IBatchSource, RefitOptions?, IWorkflowProgress?)"/>, also reporting the
    /// most bytes the pruned model's stored values took at once (<paramref name="peakStoredBytes"/>); dense targets and
    /// pruned values beyond <paramref name="storeBudgetBytes"/> (for all images) are stored in float16. For tests.
    /// </summary>
    internal static RefitResult Run(PruningPlan plan, ModelGraph pruned, IBatchSource data, RefitOptions? options, IWorkflowProgress? progress,
        long storeBudgetBytes, out long peakStoredBytes)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(pruned);
        ArgumentNullException.ThrowIfNull(data);
        options = (options ?? new RefitOptions()).Validated();
        progress ??= WorkflowProgress.Silent;
        peakStoredBytes = 0;
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
        var denseClock = new Stopwatch();
        List<Tensor>? images = null;
        Frontier? frontier = null;
        RefitLayers.Equations? equations = null;
        try
        {
            using (no_grad())
            {
                images = Images(data, options.Images, device);
                long count = images.Sum(x => x.shape[0]);
                // The positions, drawn layer by layer and batch by batch, before any forward.
                var shapes = ShapeInference.Infer(dense);
                var generator = new Random(options.Seed);
                var samples = layers.ToDictionary(l => l.Index, l => images.Select(x => l.SamplePositions(shapes[l.Output], x.shape[0], options.PositionsPerImage, generator)).ToList());
                long bytes = layers.Sum(l => Enumerable.Range(0, images.Count)
                    .Sum(b => (samples[l.Index][b]?.LongLength ?? images[b].shape[0] * RowsPerImage(shapes[l.Output])) * l.KeptOutputs * 4L));
                var store = bytes > storeBudgetBytes ? ScalarType.Float16 : ScalarType.Float32;
                long live = Frontier.LiveElementsPerImage(pruned, layers.Select(l => l.Index)) * count * 4L;
                frontier = new Frontier(prunedModule, images.Count, compact: live > storeBudgetBytes);
                var at = layers.Select(l => l.Index).ToArray();

                // One pass over the calibration batches: the dense model cuts every layer's targets, and the pruned
                // model advances to the first refit layer, whose equations take that batch's rows at once.
                equations = layers[0].Begin();
                for (int b = 0; b < images.Count; b++)
                {
                    using (var scope = NewDisposeScope())
                    {
                        denseClock.Start();
                        DenseBatch(denseModule, images[b], byNode, l => samples[l.Index][b], store, targets);
                        denseClock.Stop();
                    }
                    Advance(frontier, b, images[b], 0, layers[0], prunedModule, equations, targets, clocks);
                    images[b].Dispose();
                }
                progress.Log(string.Create(CultureInfo.InvariantCulture,
                    $"refit: dense targets of {layers.Count} layers at sampled positions, {bytes * (store == ScalarType.Float16 ? 0.5 : 1) / 1048576.0:0} MB in {(store == ScalarType.Float16 ? "float16" : "float32")}, in {denseClock.Elapsed.TotalSeconds:0.0} s; pruned values between layers in {(frontier.Compact ? "float16" : "float32")}"));
                for (int k = 0; k < layers.Count; k++)
                {
                    var layer = layers[k];
                    double g0 = clocks.Gram.Elapsed.TotalSeconds + clocks.Rows.Elapsed.TotalSeconds, f0 = frontier.Compute.Elapsed.TotalSeconds;
                    if (k > 0)
                    {
                        equations = layer.Begin();
                        for (int b = 0; b < images.Count; b++)
                            Advance(frontier, b, null, at[k - 1], layer, prunedModule, equations, targets, clocks);
                    }
                    double s0 = clocks.Solve.Elapsed.TotalSeconds;
                    var r = layer.Solve(prunedModule, equations!, options, clocks);
                    equations!.Dispose();
                    equations = null;
                    foreach (var (q, t) in targets[layer.Index])
                    {
                        q?.Dispose();
                        t.Dispose();
                    }
                    targets.Remove(layer.Index);
                    done.Add(r);
                    progress.Log(string.Create(CultureInfo.InvariantCulture,
                        $"refit {done.Count}/{layers.Count} {r.Node}: {r.Inputs} inputs × {r.Samples:N0} samples, relative error {r.ErrorBefore:0.####} -> {r.ErrorAfter:0.####} (forward {frontier.Compute.Elapsed.TotalSeconds - f0:0.0} s, rows and equations {clocks.Gram.Elapsed.TotalSeconds + clocks.Rows.Elapsed.TotalSeconds - g0:0.0} s, solve {clocks.Solve.Elapsed.TotalSeconds - s0:0.0} s)"));
                }
                peakStoredBytes = frontier.PeakBytes;
            }
        }
        finally
        {
            equations?.Dispose();
            frontier?.Dispose();
            if (images is not null)
                foreach (var t in images) t.Dispose();
            foreach (var list in targets.Values)
                foreach (var (q, t) in list)
                {
                    q?.Dispose();
                    t.Dispose();
                }
        }
        progress.Log(string.Create(CultureInfo.InvariantCulture,
            $"refit: {clock.Elapsed.TotalSeconds:0.0} s: dense forward {denseClock.Elapsed.TotalSeconds:0.0} s, pruned forward {frontier!.Compute.Elapsed.TotalSeconds:0.0} s (storing values {frontier.Storage.Elapsed.TotalSeconds:0.0} s), sampling rows {clocks.Rows.Elapsed.TotalSeconds:0.0} s, normal equations {clocks.Gram.Elapsed.TotalSeconds:0.0} s, solves {clocks.Solve.Elapsed.TotalSeconds:0.0} s; pruned values stored at most {frontier.PeakBytes / 1048576.0:0} MB"));
        return new RefitResult(prunedModule.ToGraph(), done, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Advances batch <paramref name="b"/> of the pruned model from node <paramref name="from"/> to <paramref name="layer"/> and adds its rows to <paramref name="equations"/>.</summary>
    private static void Advance(Frontier frontier, int b, Tensor? input, int from, RefitLayers layer, GraphModule module, RefitLayers.Equations equations,
        Dictionary<int, List<(Tensor? Positions, Tensor Targets)>> targets, RefitLayers.Clocks clocks)
    {
        var (positions, stored) = targets[layer.Index][b];
        frontier.Advance(b, input, from, layer.Index, value => layer.Accumulate(module, equations, value(layer.Input), positions, stored, clocks));
    }

    // Dense targets or pruned values above this size (for all calibration images) are kept in float16 (relative
    // rounding 5e-4, well below a pruned layer's fit error).
    internal const long StoreBudgetBytes = 256L << 20;

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
    internal static Dictionary<string, int> LastUse(ModelGraph graph) => LastUses.GetValue(graph, g =>
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
    /// The pruned model's state between two refit layers, for every calibration batch: the values that a later node
    /// still reads, and nothing else. <see cref="Advance"/> runs one batch through a range of nodes, reading its inputs
    /// from and writing its live outputs to that state; in <see cref="Compact"/> mode float32 values are stored in
    /// float16 (those with a magnitude beyond float16's range stay float32) and widened again when read.
    /// </summary>
    internal sealed class Frontier : IDisposable
    {
        private readonly GraphModule _module;
        private readonly Dictionary<string, int> _lastUse;
        private readonly List<Dictionary<string, (Tensor Tensor, bool Narrowed)>> _stored;
        private readonly string _input;

        public Frontier(GraphModule module, int batches, bool compact)
        {
            _module = module;
            Compact = compact;
            _lastUse = LastUse(module.Graph);
            _input = module.Graph.Inputs[0].Name;
            _stored = Enumerable.Range(0, batches).Select(_ => new Dictionary<string, (Tensor, bool)>(StringComparer.Ordinal)).ToList();
        }

        /// <summary>Whether float32 values are stored in float16.</summary>
        public bool Compact { get; }

        /// <summary>Time in the nodes' kernels.</summary>
        public Stopwatch Compute { get; } = new();

        /// <summary>Time narrowing and widening stored values.</summary>
        public Stopwatch Storage { get; } = new();

        /// <summary>Bytes stored now, over all batches.</summary>
        public long Bytes { get; private set; }

        /// <summary>The most bytes stored at once.</summary>
        public long PeakBytes { get; private set; }

        /// <summary>
        /// The most elements per image that are live (made before and read at or after) at any of the node indices
        /// <paramref name="barriers"/> — what <see cref="Advance"/> stores between refit layers.
        /// </summary>
        public static long LiveElementsPerImage(ModelGraph graph, IEnumerable<int> barriers)
        {
            var shapes = ShapeInference.Infer(graph);
            var last = LastUse(graph);
            var made = new Dictionary<string, int>(StringComparer.Ordinal) { [graph.Inputs[0].Name] = -1 };
            for (int i = 0; i < graph.Nodes.Count; i++) made.TryAdd(graph.Nodes[i].Output, i);
            long PerImage(string v) => shapes.TryGetValue(v, out var s) && s.Length > 0 ? s[1..].Aggregate(1L, (a, b) => a * b) : 1;
            return barriers.Select(at => made.Where(m => m.Value < at && last.GetValueOrDefault(m.Key, m.Value) >= at).Sum(m => PerImage(m.Key))).DefaultIfEmpty(0).Max();
        }

        /// <summary>
        /// Runs nodes [<paramref name="from"/>, <paramref name="to"/>) on batch <paramref name="b"/> (whose graph input
        /// is <paramref name="input"/> when given, not taken over), then hands <paramref name="atEnd"/> a reader of the
        /// batch's float32 values at that point (the inputs of node <paramref name="to"/>), then stores what is still live.
        /// </summary>
        public void Advance(int b, Tensor? input, int from, int to, Action<Func<string, Tensor>> atEnd)
        {
            var graph = _module.Graph;
            var stored = _stored[b];
            var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            var owned = new HashSet<string>(StringComparer.Ordinal);   // working tensors this call must dispose or store
            var made = new HashSet<string>(StringComparer.Ordinal);    // values this call produced
            Tensor Get(string name)
            {
                if (values.TryGetValue(name, out var t)) return t;
                if (!stored.TryGetValue(name, out var s)) return _module.Tensor(name);
                Storage.Start();
                t = s.Narrowed ? s.Tensor.to_type(ScalarType.Float32) : s.Tensor;
                Storage.Stop();
                if (s.Narrowed) owned.Add(name);
                values[name] = t;
                return t;
            }
            try
            {
                if (input is not null)
                {
                    values[_input] = input;
                    made.Add(_input);
                }
                for (int i = from; i < to; i++)
                {
                    var node = graph.Nodes[i];
                    foreach (var v in node.Inputs)
                        if (v.Length > 0) Get(v);
                    Compute.Start();
                    using (var scope = NewDisposeScope())
                    {
                        var y = Kernels.For(node)(new KernelCall(_module, node, values));
                        y.DetachFromDisposeScope();
                        values[node.Output] = y;
                    }
                    Compute.Stop();
                    owned.Add(node.Output);
                    made.Add(node.Output);
                    foreach (var v in node.Inputs.Append(node.Output).Distinct())
                        if (_lastUse.TryGetValue(v, out int last) && last == i)
                        {
                            if (values.Remove(v, out var dead) && owned.Remove(v)) dead.Dispose();
                            if (stored.Remove(v, out var gone)) Drop(gone.Tensor);
                        }
                }
                atEnd(Get);
                foreach (var v in made)
                    if (values.TryGetValue(v, out var t) && _lastUse.GetValueOrDefault(v, -1) >= to)
                    {
                        if (!owned.Remove(v)) t = t.alias(); // the caller's input: stored as a new handle
                        Store(stored, v, t);
                    }
            }
            finally
            {
                foreach (var v in owned)
                    if (values.TryGetValue(v, out var t)) t.Dispose();
            }
        }

        private void Store(Dictionary<string, (Tensor, bool)> stored, string name, Tensor t)
        {
            bool narrow = false;
            if (Compact && t.dtype == ScalarType.Float32)
            {
                Storage.Start();
                // float16 holds magnitudes up to 65504; a value beyond that (or not finite) stays float32.
                using (var scope = NewDisposeScope()) narrow = t.max().item<float>() < 65000f && t.min().item<float>() > -65000f;
                if (narrow)
                {
                    var h = t.to_type(ScalarType.Float16);
                    t.Dispose();
                    t = h;
                }
                Storage.Stop();
            }
            stored[name] = (t, narrow);
            Bytes += Size(t);
            PeakBytes = Math.Max(PeakBytes, Bytes);
        }

        private void Drop(Tensor t)
        {
            Bytes -= Size(t);
            t.Dispose();
        }

        private static long Size(Tensor t) => t.numel() * t.dtype switch
        {
            ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
            ScalarType.Float64 or ScalarType.Int64 => 8,
            ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
            _ => 4,
        };

        public void Dispose()
        {
            foreach (var s in _stored)
                foreach (var (t, _) in s.Values) t.Dispose();
            _stored.Clear();
        }
    }
}
