namespace Secateur.Pruning;

/// <summary>
/// The built-in pruning criteria by name, for a front end's choice of criterion. Custom criteria need no registration: any
/// <see cref="IImportance"/> implementation can be handed to the pruning pipeline directly — that interface is the
/// plug-in point.
/// </summary>
public static class Importances
{
    private static readonly (string Name, string Description, Func<IImportance> Create)[] Entries =
    [
        ("l1", "group L1 magnitude of weights, biases and BN affine parameters (Torch-Pruning style, slices mean-normalised)", () => new MagnitudeImportance(1)),
        ("l2", "group L2 magnitude of weights, biases and BN affine parameters (Torch-Pruning style, slices mean-normalised)", () => new MagnitudeImportance(2)),
        ("fpgm", "filter distance to the geometric median of its layer (He et al. 2019)", () => new FpgmImportance()),
        ("bn", "batch-norm scale |gamma| (network slimming, Liu et al. 2017); L1 of producers where there is no BN", () => new BatchNormImportance()),
        ("random", "uniform random scores from the seed (control)", () => new RandomImportance()),
        ("taylor", "first-order Taylor |sum grad x weight| on calibration data (Molchanov et al. 2019); needs calibration data", () => new TaylorImportance()),
        ("activation", "mean absolute activation read by the next layers on calibration data", () => new ActivationImportance()),
        ("apoz", "1 - average percentage of zeros after ReLU (Hu et al. 2016); needs calibration data", () => new ApozImportance()),
        ("reconstruction", "relative change of each consumer layer's output when the channel is removed; needs calibration data", () => new ReconstructionImportance()),
    ];

    /// <summary>Names of the built-in criteria, in listing order.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    /// <summary>A one-line description of each built-in criterion, for help texts.</summary>
    public static IReadOnlyDictionary<string, string> Descriptions { get; } =
        Entries.ToDictionary(e => e.Name, e => e.Description, StringComparer.OrdinalIgnoreCase);

    /// <summary>A new instance of the criterion called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="SecateurException">Unknown name (<see cref="ErrorCode.BadArgument"/>); the message lists the names.</exception>
    public static IImportance Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var entry = Entries.FirstOrDefault(e => string.Equals(e.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
        return entry.Create?.Invoke() ?? throw new SecateurException(ErrorCode.BadArgument,
            $"unknown criterion '{name}'; use one of: {string.Join(", ", Names)}");
    }
}
