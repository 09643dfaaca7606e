namespace Secateur.Graph.Ops;

/// <summary>Axis <paramref name="Axis"/> of initializer <paramref name="Tensor"/>, which loses an entry with every channel of a group.</summary>
/// <param name="Tensor">Initializer name.</param>
/// <param name="Axis">The axis that follows the channels.</param>
public readonly record struct ChannelTensor(string Tensor, int Axis);

/// <summary>
/// How an op moves channels from its inputs to its output: what <see cref="OpDefinition.Channels"/> answers and
/// the dependency graph applies to its channel groups. The set is closed (the dependency graph interprets
/// every case); an op whose channels cannot be followed says so with <see cref="Block"/> and a reason.
/// </summary>
public abstract record ChannelRule
{
    private ChannelRule() { }

    /// <summary>The output's channels are input 0's; each of <paramref name="PerChannel"/> (batch-norm parameters, depthwise filters) loses the same channels.</summary>
    /// <param name="PerChannel">Initializer axes indexed by the channel.</param>
    /// <param name="AnyAxis">
    /// True for an elementwise op, which follows channels on whichever axis carries them (after a Transpose to channels
    /// last, say); false for one that expects them on axis 1 (pooling, batch norm), which blocks them anywhere else.
    /// </param>
    /// <param name="Chunk">
    /// When above 1, the op treats runs of <paramref name="Chunk"/> consecutive channels together (GroupNormalization's
    /// groups): a removal must take whole runs, and the input must be one group's channels.
    /// </param>
    public sealed record PassThrough(IReadOnlyList<ChannelTensor> PerChannel, bool AnyAxis = false, long Chunk = 1) : ChannelRule
    {
        /// <summary>Pass-through with no parameters of its own that expects channels on axis 1 (pooling).</summary>
        public static PassThrough Plain { get; } = new([]);

        /// <summary>Pass-through of an elementwise op (activations): channels stay on whichever axis carries them.</summary>
        public static PassThrough Elementwise { get; } = new([], AnyAxis: true);
    }

    /// <summary>A Transpose: the channels move with their axis, to position <c>k</c> where <c>Perm[k]</c> is the axis that carried them.</summary>
    /// <param name="Perm">The permutation (output axis k is input axis Perm[k]).</param>
    public sealed record Permute(IReadOnlyList<int> Perm) : ChannelRule;

    /// <summary>One axis a Slice takes a range of: <paramref name="Count"/> indices from <paramref name="Start"/> in steps of <paramref name="Step"/>.</summary>
    /// <param name="Axis">The non-negative axis.</param>
    /// <param name="Start">The first index taken.</param>
    /// <param name="Step">The step (negative: backwards).</param>
    /// <param name="Count">How many indices are taken.</param>
    public readonly record struct TakenRange(int Axis, long Start, long Step, long Count);

    /// <summary>
    /// A Slice: ranges of some axes are taken. Along the channel axis a range of step 1 is a sub-range of the channels
    /// (a <c>chunk</c>), which the dependency graph follows by cutting the groups it reads at the range's ends, so that
    /// each chunk loses channels only within itself; other axes do not concern channels.
    /// </summary>
    /// <param name="Ranges">The sliced axes.</param>
    public sealed record Take(IReadOnlyList<TakenRange> Ranges) : ChannelRule;

    /// <summary>
    /// A normalisation whose statistics are taken over axes <paramref name="FirstAxis"/> to the last (LayerNormalization):
    /// when those include the axis carrying channels, removing a channel changes the statistics of the others, so the
    /// groups it reads are blocked with <paramref name="AcrossChannels"/>; otherwise each channel keeps its own statistics
    /// and channels pass through, unless <paramref name="OtherAxes"/> says why not.
    /// </summary>
    /// <param name="FirstAxis">The first normalised axis, non-negative.</param>
    /// <param name="AcrossChannels">The reason shown when the channels are among the normalised axes.</param>
    /// <param name="OtherAxes">Why channels cannot pass when they are not among them (a bias), or null.</param>
    public sealed record Normalise(int FirstAxis, string AcrossChannels, string? OtherAxes) : ChannelRule;

    /// <summary>
    /// A spatial op: the output's channels are input 0's while axis 1 of the input is channels (not a flattened value)
    /// and the op leaves that axis alone; otherwise the groups it reads are blocked.
    /// </summary>
    /// <param name="TouchesChannels">Why the op does touch the batch or channel axis, or null when it does not.</param>
    public sealed record SpatialOnly(string? TouchesChannels) : ChannelRule;

    /// <summary>
    /// Broadcasting arithmetic on two operands: aligned channels of both are tied (residuals, gates); a per-channel
    /// constant operand loses the same channels; a scalar is ignored.
    /// </summary>
    public sealed record Combine : ChannelRule;

    /// <summary>Concatenation along <paramref name="Axis"/>: along the channel axis the output's channels are the inputs' in order.</summary>
    /// <param name="Axis">The non-negative axis.</param>
    public sealed record Concatenate(long Axis) : ChannelRule;

    /// <summary>A flatten at axis 1: channel j of the input becomes <paramref name="Factor"/> consecutive output features.</summary>
    /// <param name="Factor">Elements per channel (H·W for a 4-D input).</param>
    public sealed record Flatten(long Factor) : ChannelRule;

    /// <summary>
    /// A weighted layer: reads input 0's channels through <paramref name="Consumer"/> and creates
    /// <paramref name="OutChannels"/> new ones held by <paramref name="Producers"/>.
    /// </summary>
    /// <param name="Consumer">The weight axis indexed by input channels (or features).</param>
    /// <param name="ReadsFlattened">True when the layer may read a flattened value (a Linear after Flatten).</param>
    /// <param name="OutChannels">Number of output channels.</param>
    /// <param name="Producers">The weight and bias axes indexed by output channels.</param>
    /// <param name="OutputBlocked">Why the new channels cannot be pruned, or null when they can.</param>
    /// <param name="Groups">
    /// Convolution groups (1 for a dense layer): input channel <c>j</c> is column <c>j mod (Cin/Groups)</c> of
    /// <paramref name="Consumer"/>, and inputs and outputs may only lose the same positions in every group.
    /// </param>
    /// <param name="Axis">
    /// The axis of input 0 the layer reads, and of its output where it writes the new channels: 1 for Conv and Gemm, the
    /// last for a MatMul by a constant weight (a Linear applied channels last, as ConvNeXt does).
    /// </param>
    public sealed record Layer(ChannelTensor Consumer, bool ReadsFlattened, long OutChannels, IReadOnlyList<ChannelTensor> Producers,
        string? OutputBlocked = null, long Groups = 1, int Axis = 1) : ChannelRule;

    /// <summary>
    /// A DepthToSpace: each output channel is made of <paramref name="Squares"/> (r²) input channels, which must go
    /// together — consecutive ones when <paramref name="Contiguous"/> (CRD mode: output c' reads inputs
    /// [c'·r², (c'+1)·r²)), else strided by the output's channel count C' (DCR mode: output c' reads inputs k·C' + c').
    /// </summary>
    /// <param name="Squares">Input channels per output channel (the block size squared).</param>
    /// <param name="Contiguous">True in CRD mode, false in DCR mode.</param>
    public sealed record DepthToSpace(long Squares, bool Contiguous) : ChannelRule;

    /// <summary>
    /// A SpaceToDepth: input channel c of C becomes the <paramref name="Squares"/> (r²) output channels k·C + c, which
    /// go with it (a consumer loses r² input columns per channel removed).
    /// </summary>
    /// <param name="Squares">Output channels per input channel (the block size squared).</param>
    public sealed record SpaceToDepth(long Squares) : ChannelRule;

    /// <summary>Channels cannot be followed: every group the op reads is blocked, and so are the fresh channels it writes.</summary>
    /// <param name="Why">The reason shown for the groups read.</param>
    /// <param name="OutputWhy">The reason shown for the output's channels, when it differs.</param>
    public sealed record Block(string Why, string? OutputWhy = null) : ChannelRule;
}
