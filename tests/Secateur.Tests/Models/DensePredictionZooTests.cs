using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Analysis;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;
using Secateur.Runtime;
using Secateur.Tests.Onnx;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Secateur.Tests.Models;

/// <summary>The zoo's dense-prediction models: the U-Net (one output at full resolution) and the detector (three outputs).</summary>
public sealed class DensePredictionZooTests
{
    private static (float[] Data, long[] Shape) Input(ModelGraph g, long batch, int seed)
    {
        var shape = g.Inputs[0].Concrete(batch);
        var rng = new Random(seed);
        var data = new float[TensorData.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return (data, shape);
    }

    private static Dictionary<string, float[]> Ours(ModelGraph g, (float[] Data, long[] Shape) x)
    {
        using var module = new GraphModule(g);
        module.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var outputs = module.Run(new Dictionary<string, Tensor> { [g.Inputs[0].Name] = tensor(x.Data, x.Shape) });
        return g.Outputs.ToDictionary(o => o.Name, o => outputs[o.Name].contiguous().data<float>().ToArray(), StringComparer.Ordinal);
    }

    private static Dictionary<string, float[]> Ort(ModelGraph g, (float[] Data, long[] Shape) x)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(OnnxSerializer.ToBytes(g), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(g.Inputs[0].Name, new DenseTensor<float>(x.Data, x.Shape.Select(d => (int)d).ToArray()))]);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray(), StringComparer.Ordinal);
    }

    private static void ShouldMatch(Dictionary<string, float[]> actual, Dictionary<string, float[]> expected, double tolerance, string what)
    {
        actual.Keys.Order(StringComparer.Ordinal).ShouldBe(expected.Keys.Order(StringComparer.Ordinal), what);
        foreach (var (name, values) in expected)
            Outputs.RelativeError(actual[name], values).ShouldBeLessThan(tolerance, $"{what}, output '{name}'");
    }

    [Fact]
    public void Unet_outputs_classes_at_full_resolution_for_the_default_and_a_custom_input()
    {
        var g = ModelZoo.Create("unet");
        g.Outputs.Select(o => o.Name).ShouldBe(["logits"]);
        ShapeInference.Infer(g, 2)["logits"].ShouldBe([2L, 11L, 96L, 96L]);
        var custom = ModelZoo.Create("unet", new ZooOptions(3, 64, 40, 2));
        ShapeInference.Infer(custom, 1)["logits"].ShouldBe([1L, 2L, 64L, 40L]);
        // Both upsampling forms are present: the model is meant to exercise them.
        g.Nodes.Count(n => n.Op == OpKind.ConvTranspose).ShouldBe(2);
        g.Nodes.Count(n => n.Op == OpKind.Resize).ShouldBe(1);
        Should.Throw<SecateurException>(() => ModelZoo.Create("unet", new ZooOptions(1, 28, 28, 11))).Code.ShouldBe(ErrorCode.BadArgument);
    }

    [Fact]
    public void Detector_has_three_heads_at_strides_8_16_32_for_the_default_and_a_custom_input()
    {
        var g = ModelZoo.Create("yolo-tiny");
        g.Outputs.Select(o => o.Name).ShouldBe(["p3", "p4", "p5"]);
        var shapes = ShapeInference.Infer(g, 2);
        shapes["p3"].ShouldBe([2L, 15L, 8L, 8L]);
        shapes["p4"].ShouldBe([2L, 15L, 4L, 4L]);
        shapes["p5"].ShouldBe([2L, 15L, 2L, 2L]);
        var custom = ShapeInference.Infer(ModelZoo.Create("yolo-tiny", new ZooOptions(1, 96, 128, 3)), 1);
        custom["p3"].ShouldBe([1L, 8L, 12L, 16L]);
        custom["p4"].ShouldBe([1L, 8L, 6L, 8L]);
        custom["p5"].ShouldBe([1L, 8L, 3L, 4L]);
        Should.Throw<SecateurException>(() => ModelZoo.Create("yolo-tiny", new ZooOptions(3, 48, 64, 10))).Code.ShouldBe(ErrorCode.BadArgument);
    }

    [Theory]
    // Pinned from ModelStats; the hand-counted layer is the 1×1 head with bias: in·out + out params, in·out·h·w MACs.
    [InlineData("unet", 482_859L, 341_508_096L, "outc.conv", 16 * 11 + 11L, 16 * 11 * 96 * 96L)]
    [InlineData("yolo-tiny", 803_229L, 13_832_704L, "p5", 128 * 15 + 15L, 128 * 15 * 2 * 2L)]
    public void Counts_are_pinned_and_one_layer_matches_a_hand_count(string model, long parameters, long macs, string layer, long layerParams, long layerMacs)
    {
        var stats = ModelStats.Compute(ModelZoo.Create(model));
        var row = stats.Layers.Single(l => l.Name == layer);
        row.Params.ShouldBe(layerParams);
        row.Macs.ShouldBe(layerMacs);
        stats.Params.ShouldBe(parameters);
        stats.Macs.ShouldBe(macs);
    }

    [Theory]
    [InlineData("unet")]
    [InlineData("yolo-tiny")]
    public void Saved_to_onnx_it_equals_onnxruntime_on_every_output(string model)
    {
        var g = ModelZoo.Create(model, null);
        var x = Input(g, 2, seed: 1);
        ShouldMatch(Ours(g, x), Ort(g, x), 1e-4, model);
    }

    [Theory]
    [InlineData("unet", "inc.double_conv.0.weight")]
    [InlineData("yolo-tiny", "model.0.conv.weight")]
    public void A_training_step_changes_the_first_weights(string model, string weight)
    {
        var g = ModelZoo.Create(model);
        using var module = new GraphModule(g);
        module.train();
        using var scope = NewDisposeScope();
        var before = module.Tensor(weight).detach().clone();
        using var sgd = optim.SGD(module.parameters(), 0.1);
        var x = Input(g, 2, seed: 3);
        var outputs = module.Run(new Dictionary<string, Tensor> { [g.Inputs[0].Name] = tensor(x.Data, x.Shape) });
        // Any loss that reaches every output: the first layer's gradient then flows through each head.
        var loss = g.Outputs.Select(o => outputs[o.Name].square().mean()).Aggregate((a, b) => a + b);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
        (module.Tensor(weight) - before).abs().max().item<float>().ShouldBeGreaterThan(0f);
    }

    /// <summary>
    /// Fresh batch norms (bias 0, mean 0) map a zeroed channel to zero whether or not the prune handled them; random
    /// statistics and biases make a channel the prune forgot to remove, or removed wrongly, show in the outputs.
    /// </summary>
    private static ModelGraph WithRandomNormStatistics(ModelGraph g)
    {
        var rng = new Random(5);
        foreach (var name in g.Nodes.Where(n => n.Op == OpKind.BatchNormalization).SelectMany(n => n.Inputs.Skip(1))
                     .Concat(g.Nodes.Where(n => n.Op is OpKind.Conv or OpKind.ConvTranspose && n.Inputs.Count > 2).Select(n => n.Inputs[2])).ToList())
        {
            var t = g.Initializers[name];
            // Variances and scales stay positive and near 1 so activations keep a sensible range.
            bool positive = name.EndsWith(".running_var", StringComparison.Ordinal) || name.EndsWith(".weight", StringComparison.Ordinal);
            g.Initializers[name] = TensorData.FromFloats(t.Floats.Select(_ => (float)(positive ? 0.5 + rng.NextDouble() : rng.NextDouble() - 0.5)).ToArray(), t.Shape);
        }
        return g;
    }

    [Theory]
    [InlineData("unet")]
    [InlineData("yolo-tiny")]
    public void Pruned_2x_equals_the_original_with_those_channels_zeroed(string model)
    {
        var g = WithRandomNormStatistics(ModelZoo.Create(model));
        DependencyGraph.Build(g).Prunable.Count().ShouldBeGreaterThan(0);
        var result = Pruner.Prune(g, Importances.Create("l1"), new PruningOptions
        {
            Target = new PruningTarget { Speedup = 2 },
            Allocation = new AllocationOptions { RoundTo = 1 },
        });
        result.Speedup.ShouldBeGreaterThanOrEqualTo(2 * 0.98);
        var zeroed = StructuredPruner.ZeroOut(result.Plan.Dependencies, result.Plan.Remove);
        var x = Input(g, 2, seed: 7);
        ShouldMatch(Ours(result.Pruned, x), Ours(zeroed, x), 1e-5, $"{model}: pruned vs zeroed");
        ShapeInference.Infer(result.Pruned, 1).Where(kv => g.Outputs.Any(o => o.Name == kv.Key))
            .ShouldAllBe(kv => kv.Value.SequenceEqual(ShapeInference.Infer(g, 1)[kv.Key]));
    }
}
