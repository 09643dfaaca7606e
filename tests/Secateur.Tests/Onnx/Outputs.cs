namespace Secateur.Tests.Onnx;

/// <summary>Comparisons of model outputs shared by the fixture tests.</summary>
internal static class Outputs
{
    /// <summary>max |a − b| / max |b|: the error relative to the output's scale.</summary>
    public static double RelativeError(float[] actual, float[] expected)
    {
        actual.Length.ShouldBe(expected.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double diff = actual.Zip(expected).Max(p => Math.Abs((double)p.First - p.Second));
        return diff / Math.Max(scale, 1e-12);
    }
}
