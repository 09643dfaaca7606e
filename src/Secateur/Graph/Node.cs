using System.Collections.ObjectModel;
using System.Globalization;

namespace Secateur.Graph;

/// <summary>Kind of an <see cref="AttributeValue"/>, as in ONNX's AttributeProto.</summary>
public enum AttributeKind
{
    /// <summary>One float.</summary>
    Float,
    /// <summary>One int64.</summary>
    Int,
    /// <summary>One string.</summary>
    String,
    /// <summary>A list of floats.</summary>
    Floats,
    /// <summary>A list of int64.</summary>
    Ints,
}

/// <summary>An operator attribute: one of the ONNX scalar or list kinds.</summary>
public sealed record AttributeValue
{
    private AttributeValue(AttributeKind kind) => Kind = kind;

    /// <summary>Which field is set.</summary>
    public AttributeKind Kind { get; }

    /// <summary>Value when <see cref="Kind"/> is Float.</summary>
    public float Float { get; private init; }

    /// <summary>Value when <see cref="Kind"/> is Int.</summary>
    public long Int { get; private init; }

    /// <summary>Value when <see cref="Kind"/> is String.</summary>
    public string String { get; private init; } = "";

    /// <summary>Value when <see cref="Kind"/> is Floats.</summary>
    public IReadOnlyList<float> Floats { get; private init; } = [];

    /// <summary>Value when <see cref="Kind"/> is Ints.</summary>
    public IReadOnlyList<long> Ints { get; private init; } = [];

    /// <summary>A float attribute.</summary>
    public static AttributeValue Of(float value) => new(AttributeKind.Float) { Float = value };

    /// <summary>An int attribute.</summary>
    public static AttributeValue Of(long value) => new(AttributeKind.Int) { Int = value };

    /// <summary>A string attribute.</summary>
    public static AttributeValue Of(string value) => new(AttributeKind.String) { String = value };

    /// <summary>An ints attribute.</summary>
    public static AttributeValue Of(params long[] values) => new(AttributeKind.Ints) { Ints = Array.AsReadOnly((long[])values.Clone()) };

    /// <summary>A floats attribute.</summary>
    public static AttributeValue Of(params float[] values) => new(AttributeKind.Floats) { Floats = Array.AsReadOnly((float[])values.Clone()) };

    /// <inheritdoc/>
    public bool Equals(AttributeValue? other) => other is not null && Kind == other.Kind && Kind switch
    {
        AttributeKind.Float => Float.Equals(other.Float),
        AttributeKind.Int => Int == other.Int,
        AttributeKind.String => String == other.String,
        AttributeKind.Floats => Floats.SequenceEqual(other.Floats),
        _ => Ints.SequenceEqual(other.Ints),
    };

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Float, Int, String, Floats.Count, Ints.Count);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        AttributeKind.Float => Float.ToString(CultureInfo.InvariantCulture),
        AttributeKind.Int => Int.ToString(CultureInfo.InvariantCulture),
        AttributeKind.String => String,
        AttributeKind.Floats => "[" + string.Join(",", Floats.Select(f => f.ToString(CultureInfo.InvariantCulture))) + "]",
        _ => "[" + string.Join(",", Ints) + "]",
    };
}

/// <summary>
/// One operation of a <see cref="ModelGraph"/>: an op kind, attributes, and the names of the values it reads
/// and writes. Weights are inputs too (named initializers), in ONNX's input order. Immutable: graph rewrites
/// build new nodes.
/// </summary>
public sealed class Node
{
    /// <summary>Creates a node. An empty input name marks an omitted optional input, as in ONNX.</summary>
    public Node(string name, OpKind op, IEnumerable<string> inputs, IEnumerable<string> outputs,
        IEnumerable<KeyValuePair<string, AttributeValue>>? attributes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Op = op;
        Inputs = Array.AsReadOnly(inputs.ToArray());
        Outputs = Array.AsReadOnly(outputs.ToArray());
        // Sorted so that serialisation is canonical: the same graph always saves to the same bytes.
        Attributes = new ReadOnlyDictionary<string, AttributeValue>(
            new SortedDictionary<string, AttributeValue>(
                (attributes ?? []).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), StringComparer.Ordinal));
    }

    /// <summary>Unique node name.</summary>
    public string Name { get; }

    /// <summary>Operator.</summary>
    public OpKind Op { get; }

    /// <summary>Names of the values read, in ONNX input order ("" for an omitted optional input).</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>Names of the values written.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>Attributes by name, in ordinal order.</summary>
    public IReadOnlyDictionary<string, AttributeValue> Attributes { get; }

    /// <summary>The first (usually only) output.</summary>
    public string Output => Outputs[0];

    /// <summary>Input <paramref name="index"/> if present and non-empty, else null.</summary>
    public string? InputOrNull(int index) => index < Inputs.Count && Inputs[index].Length > 0 ? Inputs[index] : null;

    /// <summary>An int attribute, or <paramref name="fallback"/> when absent.</summary>
    public long Int(string name, long fallback) => Attributes.TryGetValue(name, out var a) && a.Kind == AttributeKind.Int ? a.Int : fallback;

    /// <summary>A float attribute, or <paramref name="fallback"/> when absent.</summary>
    public float Float(string name, float fallback) => Attributes.TryGetValue(name, out var a) && a.Kind == AttributeKind.Float ? a.Float : fallback;

    /// <summary>A string attribute, or <paramref name="fallback"/> when absent.</summary>
    public string String(string name, string fallback) => Attributes.TryGetValue(name, out var a) && a.Kind == AttributeKind.String ? a.String : fallback;

    /// <summary>An ints attribute, or null when absent.</summary>
    public IReadOnlyList<long>? Ints(string name) => Attributes.TryGetValue(name, out var a) && a.Kind == AttributeKind.Ints ? a.Ints : null;

    /// <summary>A copy with other inputs, outputs or attributes.</summary>
    public Node With(IEnumerable<string>? inputs = null, IEnumerable<string>? outputs = null,
        IEnumerable<KeyValuePair<string, AttributeValue>>? attributes = null, string? name = null) =>
        new(name ?? Name, Op, inputs ?? Inputs, outputs ?? Outputs, attributes ?? Attributes);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Op})";
}
