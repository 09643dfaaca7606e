namespace Secateur.Graph;

/// <summary>Element type of a <see cref="TensorData"/>: the subset of ONNX element types a model graph stores.</summary>
public enum ElementType
{
    /// <summary>32-bit float (ONNX FLOAT = 1).</summary>
    Float = 1,
    /// <summary>64-bit integer (ONNX INT64 = 7), for shapes and indices.</summary>
    Int64 = 7,
}

/// <summary>
/// A dense, row-major tensor held in managed memory: the weights of a <see cref="ModelGraph"/>.
/// Plain arrays keep the graph usable (inspect, save, analyse) without loading libtorch.
/// </summary>
public sealed class TensorData
{
    private TensorData(ElementType type, long[] shape, float[]? floats, long[]? longs)
    {
        Type = type;
        Shape = shape;
        Floats = floats ?? [];
        Longs = longs ?? [];
    }

    /// <summary>Creates a float tensor; <paramref name="data"/> is taken, not copied.</summary>
    public static TensorData FromFloats(float[] data, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckCount(data.LongLength, shape);
        return new TensorData(ElementType.Float, (long[])shape.Clone(), data, null);
    }

    /// <summary>Creates an int64 tensor; <paramref name="data"/> is taken, not copied.</summary>
    public static TensorData FromLongs(long[] data, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckCount(data.LongLength, shape);
        return new TensorData(ElementType.Int64, (long[])shape.Clone(), null, data);
    }

    /// <summary>A float tensor of the given shape filled with <paramref name="value"/>.</summary>
    public static TensorData Filled(float value, params long[] shape)
    {
        var data = new float[ElementCount(shape)];
        Array.Fill(data, value);
        return FromFloats(data, shape);
    }

    /// <summary>Element type.</summary>
    public ElementType Type { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public long[] Shape { get; }

    /// <summary>Float elements (empty unless <see cref="Type"/> is Float).</summary>
    public float[] Floats { get; }

    /// <summary>Int64 elements (empty unless <see cref="Type"/> is Int64).</summary>
    public long[] Longs { get; }

    /// <summary>Number of elements.</summary>
    public long Count => ElementCount(Shape);

    /// <summary>Size in bytes of the raw element data.</summary>
    public long ByteSize => Count * (Type == ElementType.Float ? 4 : 8);

    /// <summary>A deep copy.</summary>
    public TensorData Clone() => Type == ElementType.Float
        ? FromFloats((float[])Floats.Clone(), Shape)
        : FromLongs((long[])Longs.Clone(), Shape);

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public static long ElementCount(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    /// <summary>Shape as text, e.g. <c>16x3x3x3</c>.</summary>
    public static string FormatShape(IEnumerable<long> shape) => string.Join('x', shape);

    /// <inheritdoc/>
    public override string ToString() => $"{Type}[{FormatShape(Shape)}]";

    private static void CheckCount(long count, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Any(d => d < 0)) throw new ArgumentException($"negative dimension in shape {FormatShape(shape)}", nameof(shape));
        if (ElementCount(shape) != count)
            throw new ArgumentException($"{count} elements do not fill shape {FormatShape(shape)}", nameof(shape));
    }
}
