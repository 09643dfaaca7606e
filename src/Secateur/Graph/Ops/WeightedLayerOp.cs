namespace Secateur.Graph.Ops;

/// <summary>The shared part of layers with a weight at input 1 and an optional bias (Conv, Gemm): weights must be initializers.</summary>
internal abstract class WeightedLayerOp(OpKind kind) : OpDefinition(kind, 2, 3)
{
    public override bool IsWeightedLayer => true;

    public override void Validate(Node node, ModelGraph graph) => RequireInitializerWeights(node, graph);
}
