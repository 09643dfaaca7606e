using Secateur.Graph;
using Secateur.Models;
using Secateur.Runtime;
using Secateur.Tests.Runtime.HandWritten;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime;

// The dropout comparison reseeds libtorch's global generator before each forward; a test in another class
// drawing random numbers in between would desynchronise the masks, so this collection runs on its own.
[CollectionDefinition(nameof(ZooEquivalenceCollection), DisableParallelization = true)]
public sealed class ZooEquivalenceCollection;

/// <summary>
/// Every zoo model, executed by <see cref="GraphModule"/>, must compute what an independent, hand-written
/// TorchSharp model of the same architecture computes with the same weights: in eval mode, in train mode
/// (batch statistics, dropout) and in the batch-norm running statistics that a training forward leaves behind.
/// </summary>
[Collection(nameof(ZooEquivalenceCollection))]
public sealed class ZooEquivalenceTests(ITestOutputHelper output)
{
    // Relative to the scale max(1, max |expected|). Outputs come out bit-identical today (both sides reach the
    // same libtorch kernels); the slack is for rounding: the graph's PyTorch momentum is 1 - 0.9f, not 0.1, so
    // running statistics differ in the 7th digit, and another kernel choice may sum in another order.
    private const double Tolerance = 1e-5;

    private sealed record Case(ZooOptions Options, Func<ZooOptions, HandWrittenModel> Create);

    // Small inputs keep the whole file fast; the ImageNet-style models need 64x64 to keep a 2x2 map at stage 4.
    private static readonly ZooOptions Small = new(1, 28, 28, 10);
    private static readonly ZooOptions Rgb64 = new(3, 64, 64, 10);

    private static readonly Dictionary<string, Case> Cases = new(StringComparer.Ordinal)
    {
        ["lenet5"] = new(Small, o => new LeNet5(o.Channels, o.Height, o.Width, o.Classes)),
        ["vgg11"] = new(Small, o => new VggBn(11, o.Channels, o.Height, o.Width, o.Classes)),
        ["vgg16"] = new(Small, o => new VggBn(16, o.Channels, o.Height, o.Width, o.Classes)),
        ["resnet20"] = new(Small, o => new CifarResNet(20, o.Channels, o.Classes)),
        ["resnet56"] = new(Small, o => new CifarResNet(56, o.Channels, o.Classes)),
        ["resnet18"] = new(Rgb64, o => new TorchvisionResNet(18, o.Channels, o.Classes)),
        ["resnet50"] = new(Rgb64, o => new TorchvisionResNet(50, o.Channels, o.Classes)),
        ["mobilenetv2"] = new(Small, o => new MobileNetV2Net(cifar: true, o.Channels, o.Classes)),
        ["mobilenetv2-imagenet"] = new(Rgb64, o => new MobileNetV2Net(cifar: false, o.Channels, o.Classes)),
    };

    public static TheoryData<string> Models => new(Cases.Keys);

    // The dense-prediction models have no twin yet: the comparison below is written for one N×classes output. Their
    // independent reference is ONNX Runtime on every output (DensePredictionZooTests), which checks the same graph.
    private static readonly string[] ComparedWithOnnxRuntimeInstead = ["unet", "yolo-tiny"];

    [Fact]
    public void Every_zoo_model_has_a_hand_written_twin()
    {
        Cases.Keys.ShouldBe(ModelZoo.Names.Except(ComparedWithOnnxRuntimeInstead), ignoreOrder: true);
        ComparedWithOnnxRuntimeInstead.ShouldAllBe(m => ModelZoo.Find(m) != null);
    }

    [Theory]
    [MemberData(nameof(Models))]
    [Trait("Category", TestCategories.Slow)]
    public void Graph_module_equals_the_hand_written_torchsharp_model(string model)
    {
        var options = Cases[model].Options;
        var graph = ModelZoo.Create(model, options);
        Perturb(graph, seed: 11);
        using var module = new GraphModule(graph);
        using var hand = Cases[model].Create(options);
        var state = CopyWeights(graph, hand);
        hand.parameters().Sum(p => p.numel()).ShouldBe(graph.ParameterCount());

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(5);
        var input = randn([2, options.Channels, options.Height, options.Width], generator: generator);

        module.eval();
        hand.eval();
        var expected = hand.forward(input);
        var actual = module.forward(input);
        actual.shape.ShouldBe([2L, options.Classes]);
        double eval = Check(actual, expected, model, "eval output");

        module.train();
        hand.train();
        // Both sides draw their dropout masks (mobilenetv2-imagenet only) from the global generator, and
        // nothing else in a forward consumes it: the same seed gives the same mask, so outputs must match.
        manual_seed(42);
        expected = hand.forward(input);
        manual_seed(42);
        actual = module.forward(input);
        double train = Check(actual, expected, model, "train output");
        var trainOutput = actual;

        double stats = 0;
        foreach (var (handName, graphName, tensor) in state.Where(s => s.GraphName.EndsWith(".running_mean", StringComparison.Ordinal)
                     || s.GraphName.EndsWith(".running_var", StringComparison.Ordinal)))
        {
            var live = module.Tensor(graphName);
            // The statistics must have moved, or the comparison would not show the update matches.
            (live - GraphModule.ToTensor(graph.Initializers[graphName])).abs().max().item<float>().ShouldBeGreaterThan(0f, graphName);
            stats = Math.Max(stats, Check(live, tensor, model, $"{graphName} (hand-written {handName}) after a training forward"));
        }

        // Eval again: the updated running statistics are what both now normalise with.
        module.eval();
        hand.eval();
        double evalAfter = Check(module.forward(input), hand.forward(input), model, "eval output after the training forward");

        if (graph.Nodes.Any(n => n.Op == OpKind.Dropout))
        {
            // Equal masks only prove something if dropout is live: another seed must change the training output.
            module.train();
            manual_seed(43);
            (module.forward(input) - trainOutput).abs().max().item<float>().ShouldBeGreaterThan(0f, $"{model}: dropout inactive in training mode");
        }

        output.WriteLine($"{model}: max |diff| / scale: eval {eval:E2}, train {train:E2}, running stats {stats:E2}, eval after training forward {evalAfter:E2}");
    }

    /// <summary>
    /// Fresh BN layers (weight 1, bias 0, mean 0, variance 1) and zero biases would hide a swapped or dropped
    /// tensor in the weight copy; random values make every one of them show in the output.
    /// </summary>
    private static void Perturb(ModelGraph graph, int seed)
    {
        var rng = new Random(seed);
        void Fill(string name, double lo, double hi)
        {
            var data = graph.Initializers[name].Floats;
            for (int i = 0; i < data.Length; i++) data[i] = (float)(lo + rng.NextDouble() * (hi - lo));
        }
        var bnInputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var bn in graph.Nodes.Where(n => n.Op == OpKind.BatchNormalization))
        {
            Fill(bn.Inputs[1], 0.5, 1.5);   // weight
            Fill(bn.Inputs[2], -0.5, 0.5);  // bias
            Fill(bn.Inputs[3], -0.5, 0.5);  // running mean
            Fill(bn.Inputs[4], 0.5, 2.0);   // running variance
            bnInputs.UnionWith(bn.Inputs.Skip(1));
        }
        foreach (var name in graph.ParameterNames().Where(n => n.EndsWith(".bias", StringComparison.Ordinal) && !bnInputs.Contains(n)))
            Fill(name, -0.1, 0.1);
    }

    /// <summary>
    /// Copies every graph parameter and BN buffer into the hand-written model by name, asserting that the
    /// mapping is one-to-one, kinds agree (parameter to parameter, buffer to buffer) and shapes match.
    /// Returns the mapping with the hand-written tensors.
    /// </summary>
    private static List<(string HandName, string GraphName, Tensor Tensor)> CopyWeights(ModelGraph graph, HandWrittenModel hand)
    {
        var parameters = graph.ParameterNames().ToHashSet(StringComparer.Ordinal);
        var buffers = graph.BufferNames().ToHashSet(StringComparer.Ordinal);
        var entries = hand.named_parameters().Select(p => (p.name, (Tensor)p.parameter, Parameter: true))
            // PyTorch's batch counter has no ONNX counterpart (and momentum is fixed, so it is never read).
            .Concat(hand.named_buffers().Where(b => !b.name.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
                .Select(b => (b.name, b.buffer, Parameter: false)))
            .ToList();
        var used = new Dictionary<string, string>(StringComparer.Ordinal);
        var state = new List<(string, string, Tensor)>();
        using var noGrad = no_grad();
        foreach (var (name, tensor, isParameter) in entries)
        {
            var graphName = hand.GraphName(name);
            (isParameter ? parameters : buffers).ShouldContain(graphName,
                $"hand-written {(isParameter ? "parameter" : "buffer")} '{name}' maps to '{graphName}', which is not a graph {(isParameter ? "parameter" : "BN buffer")}");
            used.TryAdd(graphName, name).ShouldBeTrue($"'{graphName}' is the target of both '{(used.TryGetValue(graphName, out var other) ? other : "")}' and '{name}'");
            var data = graph.Initializers[graphName];
            tensor.shape.ShouldBe(data.Shape, $"shape of '{name}' vs graph '{graphName}'");
            using var source = GraphModule.ToTensor(data);
            tensor.copy_(source);
            state.Add((name, graphName, tensor));
        }
        parameters.Concat(buffers).Where(n => !used.ContainsKey(n)).ShouldBeEmpty("graph tensors the hand-written model has no counterpart for");
        return state;
    }

    /// <summary>Asserts max |a - b| is within <see cref="Tolerance"/> of the scale max(1, max |b|); returns the ratio.</summary>
    private static double Check(Tensor actual, Tensor expected, string model, string what)
    {
        actual.shape.ShouldBe(expected.shape, $"{model}: {what} shape");
        double scale = Math.Max(1.0, expected.abs().max().item<float>());
        double diff = (actual - expected).abs().max().item<float>();
        (diff / scale).ShouldBeLessThanOrEqualTo(Tolerance, $"{model}: {what}: max |diff| {diff:G4} at scale {scale:G4}");
        return diff / scale;
    }
}
