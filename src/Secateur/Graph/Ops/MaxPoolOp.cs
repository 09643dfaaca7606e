namespace Secateur.Graph.Ops;

/// <summary>ONNX MaxPool. A maximum stays inside its input's range, so it reuses the input's quantization.</summary>
internal sealed class MaxPoolOp() : PoolOp(OpKind.MaxPool)
{
    public override bool IsQuantizationPassThrough => true;
}
