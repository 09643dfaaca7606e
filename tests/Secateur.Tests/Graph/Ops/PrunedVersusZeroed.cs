using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Graph.Ops;

/// <summary>The op tests' proof that removing channels changes nothing but what zeroing them changes.</summary>
internal static class PrunedVersusZeroed
{
    /// <summary>max |zeroed(x) − pruned(x)| in eval mode, for the given removal.</summary>
    public static float MaxDifference(DependencyGraph deps, IReadOnlyDictionary<PruningGroup, IReadOnlyCollection<long>> remove, Tensor input)
    {
        using var zeroed = new GraphModule(StructuredPruner.ZeroOut(deps, remove));
        using var small = new GraphModule(StructuredPruner.Prune(deps, remove));
        zeroed.eval();
        small.eval();
        using (no_grad())
            return (zeroed.forward(input) - small.forward(input)).abs().max().item<float>();
    }
}
