using Secateur.Models;
using Secateur.Pruning.Unstructured;

namespace Secateur.Tests.Pruning.Unstructured;

public sealed class NmSparsityTests
{
    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Two_four_keeps_the_two_largest_of_four_consecutive_input_channels_at_each_kernel_position()
    {
        var g = ModelZoo.Create("resnet20");
        var options = new SparsityOptions { Nm = new NmPattern(2, 4) };
        var masks = MagnitudePruner.Masks(g, options);
        // The stem has 1 input channel: not a multiple of 4, left dense; every 16/32/64-channel conv is 2:4.
        masks.Keep.ShouldNotContainKey("conv1.weight");
        masks.Keep.ShouldContainKey("layer1.0.conv1.weight");
        var sparse = masks.Apply(g);
        var w = sparse.Initializers["layer2.0.conv1.weight"]; // (32, 16, 3, 3)
        var orig = g.Initializers["layer2.0.conv1.weight"].Floats;
        long cin = w.Shape[1], k = w.Shape[2] * w.Shape[3];
        for (long o = 0; o < w.Shape[0]; o++)
            for (long c = 0; c < cin; c += 4)
                for (long p = 0; p < k; p++)
                {
                    var idx = Enumerable.Range(0, 4).Select(j => (o * cin + c + j) * k + p).ToArray();
                    idx.Count(i => w.Floats[i] != 0).ShouldBe(2);
                    float smallestKept = idx.Where(i => w.Floats[i] != 0).Min(i => Math.Abs(orig[i]));
                    idx.Where(i => w.Floats[i] == 0).ShouldAllBe(i => Math.Abs(orig[i]) <= smallestKept);
                }
        NmSparsity.Satisfies(sparse, new NmPattern(2, 4), masks.Keep.Keys).ShouldBeTrue();
        NmSparsity.Satisfies(g, new NmPattern(2, 4), masks.Keep.Keys).ShouldBeFalse();
        SparsityReport.Compute(sparse).Layers.Single(l => l.Weight == "layer3.1.conv2.weight").Sparsity.ShouldBe(0.5);
    }

    [Fact]
    public void The_validator_finds_one_broken_group_and_checks_gemm_along_input_features()
    {
        var g = ModelZoo.Create("lenet5");
        var pattern = new NmPattern(1, 4);
        var masks = MagnitudePruner.Masks(g, new SparsityOptions { Nm = pattern, PruneClassifier = true });
        var sparse = masks.Apply(g);
        var checks = NmSparsity.Check(sparse, pattern, masks.Keep.Keys);
        checks.ShouldAllBe(c => c.Eligible && c.Violations == 0);
        // fc1 (120 x 400, transB=1): groups of 4 consecutive input features of one row.
        var fc1 = sparse.Initializers["fc1.weight"].Floats;
        for (int i = 0; i < fc1.Length; i += 4) fc1.Skip(i).Take(4).Count(v => v != 0).ShouldBeLessThanOrEqualTo(1);
        int zero = Array.FindIndex(fc1, v => v == 0);
        fc1[zero] = 1f; // a second non-zero in its group
        var broken = NmSparsity.Check(sparse, pattern, masks.Keep.Keys).Single(c => c.Weight == "fc1.weight");
        broken.Violations.ShouldBe(1);
        broken.Groups.ShouldBe(120 * 400 / 4);
        NmSparsity.Satisfies(sparse, pattern, masks.Keep.Keys).ShouldBeFalse();
    }

    [Theory]
    [InlineData("2:2")]
    [InlineData("4:2")]
    [InlineData("0:4")]
    [InlineData("2-4")]
    public void Bad_patterns_are_rejected(string text) =>
        Should.Throw<SecateurException>(() => NmPattern.Parse(text)).Code.ShouldBe(ErrorCode.BadArgument);

    [Fact]
    public void Nm_is_one_shot_only() =>
        Should.Throw<SecateurException>(() => SparsitySchedule.Run(ModelZoo.Create("lenet5"), new SparsityOptions { Nm = new NmPattern(2, 4) },
            new SparsityScheduleOptions(SparsityScheduleKind.Agp), (_, g, _, _) => new MaskedTraining(g), _ => null)).Message.ShouldContain("oneshot");
}
