using Secateur.Analysis;
using Secateur.Models;

namespace Secateur.Tests.Models;

public sealed class ZooCountsTests
{
    [Theory]
    // The benchmark protocol's definitions (Conv + Linear MACs) and torchvision's parameter counts.
    [InlineData("resnet20", 1, 28, 28, 10, 272_186L, 31_021_952L)]
    [InlineData("mobilenetv2", 1, 28, 28, 10, 2_236_106L, 72_938_624L)]
    [InlineData("resnet50", 3, 224, 224, 1000, 25_557_032L, 4_089_184_256L)]
    [InlineData("resnet18", 3, 224, 224, 1000, 11_689_512L, 1_814_073_344L)]
    [InlineData("mobilenetv2-imagenet", 3, 224, 224, 1000, 3_504_872L, 300_774_272L)]
    [InlineData("lenet5", 1, 28, 28, 10, 61_706L, 416_520L)]
    [Trait("Category", TestCategories.Slow)]
    public void Counts_match_reference(string model, long c, long h, long w, long classes, long parameters, long macs)
    {
        var g = ModelZoo.Create(model, new ZooOptions(c, h, w, classes));
        var stats = ModelStats.Compute(g);
        stats.Params.ShouldBe(parameters);
        stats.Macs.ShouldBe(macs);
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Every_zoo_model_builds_and_validates_at_its_default_shape()
    {
        foreach (var e in ModelZoo.Entries.Where(e => e.Defaults.Height <= 32))
        {
            var g = ModelZoo.Create(e.Name);
            Secateur.Graph.GraphValidator.Validate(g);
            g.Outputs[0].Dims[^1].Value.ShouldBe(e.Defaults.Classes);
        }
    }

    [Fact]
    public void Unknown_model_is_a_bad_argument_listing_the_zoo()
    {
        var ex = Should.Throw<SecateurException>(() => ModelZoo.Create("resnet21"));
        ex.Code.ShouldBe(ErrorCode.BadArgument);
        ex.Message.ShouldContain("resnet20");
    }
}
