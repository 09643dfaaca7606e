using Secateur.Graph;
using Secateur.Runtime;
using Secateur.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Secateur.Pruning.Unstructured;

/// <summary>
/// Keep-masks of weight tensors, by initializer name: <c>true</c> keeps the element, <c>false</c> prunes it
/// (its value is zero and stays zero). Element order is the tensor's row-major order.
/// </summary>
public sealed class WeightMasks
{
    private readonly Dictionary<string, bool[]> _keep;

    /// <summary>Creates masks from keep-arrays (taken, not copied).</summary>
    public WeightMasks(IReadOnlyDictionary<string, bool[]> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        _keep = new Dictionary<string, bool[]>(keep, StringComparer.Ordinal);
    }

    /// <summary>The keep-array of every masked tensor.</summary>
    public IReadOnlyDictionary<string, bool[]> Keep => _keep;

    /// <summary>Masked elements in all.</summary>
    public long Count => _keep.Values.Sum(k => (long)k.Length);

    /// <summary>Elements kept in all.</summary>
    public long Kept => _keep.Values.Sum(k => (long)k.Count(x => x));

    /// <summary>The masks of the union of pruned elements of this and <paramref name="other"/> (an element is kept only when both keep it).</summary>
    public WeightMasks Intersect(WeightMasks? other)
    {
        if (other is null) return this;
        var result = new Dictionary<string, bool[]>(_keep, StringComparer.Ordinal);
        foreach (var (name, keep) in other._keep)
        {
            if (!result.TryGetValue(name, out var mine)) { result[name] = keep; continue; }
            if (mine.Length != keep.Length) throw new ArgumentException($"masks of '{name}' differ in size ({mine.Length} and {keep.Length})", nameof(other));
            result[name] = mine.Zip(keep, (a, b) => a && b).ToArray();
        }
        return new WeightMasks(result);
    }

    /// <summary>A copy of <paramref name="graph"/> whose masked weights are zero (+0.0): the sparse model, exportable like any graph.</summary>
    /// <exception cref="SecateurException">InvalidGraph when a masked tensor is missing or has another size.</exception>
    public ModelGraph Apply(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var result = graph.Clone();
        foreach (var (name, keep) in _keep)
        {
            var data = Check(result, name, keep).Floats;
            for (int i = 0; i < keep.Length; i++)
                if (!keep[i]) data[i] = 0f;
        }
        return result;
    }

    /// <summary>True when every masked element of <paramref name="graph"/> is exactly zero.</summary>
    public bool IsSatisfiedBy(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        foreach (var (name, keep) in _keep)
        {
            var data = Check(graph, name, keep).Floats;
            for (int i = 0; i < keep.Length; i++)
                if (!keep[i] && data[i] != 0f) return false;
        }
        return true;
    }

    /// <summary>A training constraint that zeroes the masked weights of a module on <paramref name="device"/> (CPU when null).</summary>
    public MaskConstraint ToConstraint(Device? device = null) => new(this, device ?? CPU);

    private static TensorData Check(ModelGraph graph, string name, bool[] keep)
    {
        if (!graph.Initializers.TryGetValue(name, out var t) || t.Type != ElementType.Float || t.Count != keep.Length)
            throw new SecateurException(ErrorCode.InvalidGraph, $"graph '{graph.Name}' has no float tensor '{name}' of {keep.Length} elements to mask");
        return t;
    }
}

/// <summary>
/// Keeps masked weights at exactly zero during training: after every optimizer step the <see cref="Trainer"/>
/// calls <see cref="Apply"/>, which fills the pruned positions with +0.0 in place.
/// </summary>
public sealed class MaskConstraint : IParameterConstraint, IDisposable
{
    private readonly Dictionary<string, Tensor> _pruned = new(StringComparer.Ordinal);
    private readonly Device _device;

    /// <summary>Uploads the masks to <paramref name="device"/>.</summary>
    public MaskConstraint(WeightMasks masks, Device device)
    {
        ArgumentNullException.ThrowIfNull(masks);
        ArgumentNullException.ThrowIfNull(device);
        NativeLibraries.EnsureTorch();
        _device = device;
        foreach (var (name, keep) in masks.Keep)
        {
            var pruned = new bool[keep.Length];
            for (int i = 0; i < keep.Length; i++) pruned[i] = !keep[i];
            var t = tensor(pruned);
            if (device.type != DeviceType.CPU) { var moved = t.to(device); t.Dispose(); t = moved; }
            // Lives as long as the constraint, not as long as any caller's dispose scope.
            _pruned[name] = t.DetachFromDisposeScope();
        }
    }

    /// <inheritdoc/>
    public void Apply(GraphModule module)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (module.Device.type != _device.type || module.Device.index != _device.index)
            throw new ArgumentException($"the masks live on {_device} but the module on {module.Device}", nameof(module));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, pruned) in _pruned)
        {
            var p = module.Tensor(name);
            p.masked_fill_(pruned.view(p.shape), 0f);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in _pruned.Values) t.Dispose();
        _pruned.Clear();
    }
}
