using Secateur.Data;

namespace Secateur.Pruning;

/// <summary>
/// The held-out slice of the training data that pruning decisions (sensitivity analysis, the dynamic schedule's
/// accept/reject) are made on: the test split is for the final report only, so no decision may peek at it.
/// </summary>
public static class HeldOut
{
    /// <summary>
    /// Splits <paramref name="set"/>'s training images into what fine-tuning may use and a stratified validation slice
    /// of about 10% (at most <paramref name="max"/> images), deterministic for a given <paramref name="seed"/>.
    /// </summary>
    /// <returns>The set with the slice removed from its training images, and the slice.</returns>
    public static (DataSet Training, ImageDataset Validation) Split(DataSet set, int seed, int max = 1000)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        // A fraction rather than a count: the split is stratified, and 10% keeps most images for fine-tuning.
        double fraction = Math.Clamp(Math.Min(0.1, max / (double)Math.Max(1, set.Train.Count)), 1e-9, 0.5);
        var (train, validation) = set.Train.Split(fraction, seed);
        if (validation.Count == 0)
            throw new SecateurException(ErrorCode.BadArgument, $"{set.Train.Count} training images are too few to hold out a validation slice", ParameterNames.Data);
        return (set.WithTrain(train), validation.Take(max, set.Train.Name + " (held-out validation)"));
    }
}
