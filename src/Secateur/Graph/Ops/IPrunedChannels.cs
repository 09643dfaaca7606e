namespace Secateur.Graph.Ops;

/// <summary>
/// What a structured prune did to the channels of the original graph's values, for the ops whose constants count
/// channels and must be rewritten with them (a Slice that takes a chunk of the channels).
/// </summary>
public interface IPrunedChannels
{
    /// <summary>The shape <paramref name="value"/> had before pruning.</summary>
    long[] OriginalShape(string value);

    /// <summary>
    /// How many of the indices <c>[0, position)</c> along <paramref name="axis"/> of <paramref name="value"/> the prune
    /// keeps: <paramref name="position"/> itself when it removes nothing there (any axis not carrying pruned channels).
    /// </summary>
    long KeptBefore(string value, int axis, long position);
}
