namespace Secateur.Graph.Ops;

/// <summary>
/// Everything the graph layer knows about one operator, in one place: its arity, which inputs are constants
/// rather than parameters, the opsets it can be saved in, its per-op validation, shape inference, the channel
/// rule the dependency graph applies, its rewrite after pruning, and what analysis and quantization need.
/// One subclass per op lives in this folder and <see cref="OpRegistry"/> finds it; adding an op is one such
/// file plus one kernel entry in the runtime (kernels are not here, because the graph layer does not know libtorch).
/// </summary>
public abstract class OpDefinition
{
    // Only this assembly defines ops: the registry discovers them here, and a definition it cannot see would be
    // a silent gap rather than an extension point.
    private protected OpDefinition(OpKind kind, int minInputs = 1, int maxInputs = 1)
    {
        Kind = kind;
        MinInputs = minInputs;
        MaxInputs = maxInputs;
    }

    /// <summary>The op this definition describes.</summary>
    public OpKind Kind { get; }

    /// <summary>How many inputs are required; they come first, as in ONNX.</summary>
    public int MinInputs { get; }

    /// <summary>
    /// The most inputs the op takes (<see cref="int.MaxValue"/> when variadic); those from <see cref="MinInputs"/>
    /// on are optional, and an empty name omits one.
    /// </summary>
    public int MaxInputs { get; }

    /// <summary>
    /// True when input <paramref name="index"/> is a constant operand (a target shape, a range, a bound, pads):
    /// a float initializer there is a constant of the graph, not a trainable parameter, and not counted in params.
    /// </summary>
    public virtual bool IsConstantInput(int index) => false;

    /// <summary>True when input <paramref name="index"/> is running state (batch-norm statistics): saved with the model, never trained.</summary>
    public virtual bool IsRunningStatistic(int index) => false;

    /// <summary>True when <paramref name="node"/> reads <paramref name="value"/> at one of its running-statistic inputs.</summary>
    public bool ReadsAsRunningStatistic(Node node, string value)
    {
        ArgumentNullException.ThrowIfNull(node);
        for (int i = 0; i < node.Inputs.Count; i++)
            if (node.Inputs[i] == value && IsRunningStatistic(i)) return true;
        return false;
    }

    /// <summary>
    /// True for a layer whose input 1 is a weight matrix or filter bank (Conv, Gemm): the weights that unstructured
    /// sparsity prunes, reports and compresses, and whose slices are filters for importance criteria.
    /// </summary>
    public virtual bool IsWeightedLayer => false;

    /// <summary>The lowest ai.onnx opset in which the op exists with the meaning Secateur gives it.</summary>
    public virtual int MinOpset => 1;

    /// <summary>Why the op needs <see cref="MinOpset"/>, quoted when a save at a lower opset is refused.</summary>
    protected virtual string MinOpsetReason => $"{Kind} was added in opset {MinOpset}";

    /// <summary>Why <paramref name="node"/> cannot be saved in <paramref name="opset"/>; empty when it can.</summary>
    public virtual IEnumerable<string> OpsetProblems(Node node, int opset)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (opset < MinOpset) yield return $"node '{node.Name}' ({node.Op}) needs opset {MinOpset}: {MinOpsetReason}";
    }

    /// <summary>
    /// Why <paramref name="node"/> of <paramref name="graph"/> cannot be written as itself in <paramref name="opset"/>;
    /// empty when it can. Ops whose form depends on their parameters (GroupNormalization's per-channel scale) look at them.
    /// </summary>
    public virtual IEnumerable<string> OpsetProblems(Node node, ModelGraph graph, int opset) => OpsetProblems(node, opset);

    /// <summary>
    /// The nodes that compute what <paramref name="node"/> computes with ops <paramref name="opset"/> has, for a save
    /// at an opset too old for the op (Gelu as its Erf formula, say); null when there is no such form. Constants it
    /// needs are added to <paramref name="graph"/>, a copy that is being saved; <paramref name="shapes"/> holds the
    /// shape of every value at batch size 1.
    /// </summary>
    public virtual IReadOnlyList<Node>? Lower(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes, int opset) => null;

    /// <summary>
    /// What the op makes of a channel that is 0 in its inputs — the state of a removed channel in the model with that
    /// channel zeroed — as a short text for messages ("0.5", "ln 2"), or null when it stays 0 (the default: Relu, BN with
    /// its parameters zeroed, pooling, a per-channel constant, which is zeroed with the channel). Removing a channel is
    /// exact only where it is 0: the dependency graph follows a value whose removed channels are not, and blocks the
    /// groups it carries at the next layer that reads them, unless a Mul by a value whose removed channels are 0 first
    /// zeroes them again (the gates of SiLU x·σ(x), squeeze-and-excitation, Mish x·tanh(softplus(x))).
    /// </summary>
    public virtual string? MapsZeroTo(Node node, ModelGraph graph) => null;

    /// <summary>
    /// Checks of <paramref name="node"/>'s attributes and operands that the generic validation (names, arity,
    /// definedness) cannot know; throws <see cref="SecateurException"/> naming the node.
    /// </summary>
    public virtual void Validate(Node node, ModelGraph graph) { }

    /// <summary>
    /// The output shape of <paramref name="node"/> given its input shapes (an empty array for an omitted input);
    /// <paramref name="constant"/> looks up the constant operands some ops need (Reshape's shape, Slice's ranges).
    /// Inconsistent shapes throw <see cref="SecateurException"/> (InvalidGraph) naming the node.
    /// </summary>
    public abstract long[] InferShape(Node node, long[][] inputs, Func<string, TensorData?> constant);

    /// <summary>
    /// How channels flow through <paramref name="node"/>: the rule the dependency graph applies to its channel
    /// groups. <paramref name="shapes"/> holds the shape of every value of <paramref name="graph"/>.
    /// </summary>
    public abstract ChannelRule Channels(Node node, ModelGraph graph, IReadOnlyDictionary<string, long[]> shapes);

    /// <summary>
    /// <paramref name="node"/> as it must read once its initializers have lost channels; <paramref name="pruned"/>
    /// already holds the smaller initializers. Most ops need no change; Conv's <c>group</c> follows its depthwise filters.
    /// </summary>
    public virtual Node RewriteAfterPruning(Node node, ModelGraph pruned) => node;

    /// <summary>
    /// <see cref="RewriteAfterPruning(Node, ModelGraph)"/> for ops whose attributes count what the pruning took, which
    /// only the <paramref name="original"/> graph still shows (GroupNormalization's group count).
    /// </summary>
    public virtual Node RewriteAfterPruning(Node node, ModelGraph original, ModelGraph pruned) => RewriteAfterPruning(node, pruned);

    /// <summary>
    /// <paramref name="node"/> as it must read once its initializers have lost channels, for ops whose constants count
    /// the channels of a value (a Slice's range): <paramref name="channels"/> says which indices of the original values
    /// the prune kept. By default <see cref="RewriteAfterPruning(Node, ModelGraph, ModelGraph)"/>.
    /// </summary>
    public virtual Node RewriteAfterPruning(Node node, ModelGraph original, ModelGraph pruned, IPrunedChannels channels) => RewriteAfterPruning(node, original, pruned);

    /// <summary>
    /// Multiply-accumulates of <paramref name="node"/> for a batch of one, by the convention ModelStats states (the
    /// analysis layer sums these; this layer does not know it): 0 for ops whose work it does not count, such as
    /// bias adds, normalisation, activations and pooling.
    /// </summary>
    public virtual long Macs(Node node, IReadOnlyDictionary<string, long[]> shapes) => 0;

    /// <summary>True when ONNX Runtime fuses DequantizeLinear → <paramref name="node"/> → QuantizeLinear into an integer kernel.</summary>
    public virtual bool IsQuantizable(ModelGraph graph, Node node) => false;

    /// <summary>
    /// True when the op's output range is a subset of its input's, so that its output reuses the input's
    /// quantization and ONNX Runtime drops the DequantizeLinear/QuantizeLinear pair around it.
    /// </summary>
    public virtual bool IsQuantizationPassThrough => false;

    /// <summary>
    /// When the op clamps its input to [0, bound] and nothing else (ReLU: bound +∞; Clip with min 0 and a constant max),
    /// the bound; otherwise null. A uint8 QuantizeLinear with zero point 0 whose range ends at or below the bound clamps
    /// the same way, so the quantizer drops such an op after a quantized node and ONNX Runtime fuses the node's integer
    /// kernel straight into the next one, with no float Dequantize → op → Quantize island between them.
    /// </summary>
    public virtual float? ZeroClampBound(ModelGraph graph, Node node) => null;

    /// <summary>The InvalidGraph error every definition raises for a malformed node, naming it.</summary>
    internal static SecateurException Fail(Node node, string why) =>
        new(ErrorCode.InvalidGraph, $"node '{node.Name}' ({node.Op}): {why}");

    /// <summary>The shape of the first input.</summary>
    private protected static long[] First(Node node, long[][] inputs) => inputs.Length > 0 ? inputs[0] : throw Fail(node, "has no input");

    /// <summary>The shape of required input <paramref name="index"/>.</summary>
    private protected static long[] Required(Node node, long[][] inputs, int index) =>
        index < inputs.Length && inputs[index].Length > 0 || (index < node.Inputs.Count && node.Inputs[index].Length > 0)
            ? inputs[index]
            : throw Fail(node, $"missing required input {index}");

    /// <summary>A possibly negative axis resolved against <paramref name="rank"/>.</summary>
    private protected static int Axis(Node node, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw Fail(node, $"axis {axis} is out of range for rank {rank}");
        return (int)a;
    }

    /// <summary>The rule of an op whose effect on channels cannot be followed: it blocks the groups it reads.</summary>
    private protected static ChannelRule.Block Mixes(Node node) =>
        new($"'{node.Name}' ({node.Op}) mixes channels in a way Secateur cannot follow");

    /// <summary>Weights must be initializers: pruning slices them and the runtime trains them.</summary>
    private protected static void RequireInitializerWeights(Node node, ModelGraph graph)
    {
        foreach (var w in node.Inputs.Skip(1).Where(w => w.Length > 0))
            if (!graph.IsInitializer(w))
                throw new SecateurException(ErrorCode.UnsupportedOp,
                    $"node '{node.Name}' ({node.Op}): weight '{w}' is computed at run time; Secateur needs it as an initializer");
    }

    /// <summary>The product of <paramref name="dims"/> (1 when empty).</summary>
    private protected static long Product(IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);
}
