using System.Diagnostics.CodeAnalysis;

namespace Secateur.Graph.Ops;

/// <summary>
/// The definition of every op, found by reflection over this assembly's <see cref="OpDefinition"/> subclasses, so
/// that adding an op is adding its definition file and nothing else in the graph layer.
/// </summary>
public static class OpRegistry
{
    private static readonly Dictionary<OpKind, OpDefinition> ByKind = Discover();

    private static Dictionary<OpKind, OpDefinition> Discover()
    {
        var result = new Dictionary<OpKind, OpDefinition>();
        foreach (var type in typeof(OpDefinition).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(OpDefinition)) && !t.IsAbstract))
        {
            var definition = (OpDefinition)Activator.CreateInstance(type, nonPublic: true)!;
            // Two definitions of one op would make the answer depend on reflection order.
            if (!result.TryAdd(definition.Kind, definition))
                throw new InvalidOperationException($"{definition.Kind} is defined twice ({result[definition.Kind].GetType().Name} and {type.Name})");
        }
        return result;
    }

    /// <summary>Every definition, in <see cref="OpKind"/> order.</summary>
    public static IEnumerable<OpDefinition> All => ByKind.OrderBy(kv => kv.Key).Select(kv => kv.Value);

    /// <summary>The definition of <paramref name="kind"/>; false when there is none.</summary>
    public static bool TryGet(OpKind kind, [NotNullWhen(true)] out OpDefinition? definition) => ByKind.TryGetValue(kind, out definition);

    /// <summary>The definition of <paramref name="node"/>'s op.</summary>
    /// <exception cref="SecateurException">UnsupportedOp, naming the op and the node, when the op has no definition.</exception>
    public static OpDefinition For(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return ByKind.TryGetValue(node.Op, out var d) ? d
            : throw new SecateurException(ErrorCode.UnsupportedOp, $"node '{node.Name}': op {node.Op} is not supported (it has no definition)");
    }
}
