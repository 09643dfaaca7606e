using Secateur.Data;

namespace Secateur.Tests.Workflows;

/// <summary>Cut-down slices of the embedded Fashion-MNIST subset, small enough for workflow tests to train on.</summary>
internal static class WorkflowData
{
    private static readonly DataSet Embedded = DataSource.Resolve("embedded");

    /// <summary>The first <paramref name="train"/> training and <paramref name="test"/> test images.</summary>
    public static DataSet Slice(int train, int test) => Embedded.WithTrain(Embedded.Train.Take(train)) with { Test = Embedded.Test.Take(test) };
}
