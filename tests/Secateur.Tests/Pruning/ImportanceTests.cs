using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Pruning;
using static TorchSharp.torch;

namespace Secateur.Tests.Pruning;

public sealed class ImportanceTests
{
    private static readonly string[] DataCriteria = ["taylor", "activation", "apoz", "reconstruction"];

    // Two batches of 32 real images keep the data-driven criteria fast while exercising the whole pass.
    private static readonly Lazy<DataLoader> Calibration = new(() => DataSource.Resolve("embedded").TrainLoader(32, seed: 1, augment: false));

    private static ImportanceContext WithData(int seed = 0) => new(Calibration.Value, MaxBatches: 2, Seed: seed);

    public static TheoryData<string, string> CriteriaAndModels()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in Importances.Names)
            foreach (var m in new[] { "resnet20", "mobilenetv2" })
                data.Add(c, m);
        return data;
    }

    public static TheoryData<string> DataDriven() => new(DataCriteria);

    [Theory]
    [MemberData(nameof(CriteriaAndModels))]
    public void Every_prunable_group_gets_a_finite_score_per_channel(string criterion, string model)
    {
        var deps = DependencyGraph.Build(ModelZoo.Create(model));
        var importance = Importances.Create(criterion);
        importance.Name.ShouldBe(criterion);
        importance.NeedsData.ShouldBe(DataCriteria.Contains(criterion));
        var scores = importance.Score(deps, WithData());
        scores.Keys.ShouldBe(deps.Prunable, ignoreOrder: true);
        foreach (var (group, s) in scores)
        {
            s.Length.ShouldBe((int)group.Channels, group.ToString());
            s.ShouldAllBe(v => float.IsFinite(v), group.ToString());
        }
    }

    /// <summary>LeNet-5 with conv1's filter 2 switched off (weights and bias zero).</summary>
    private static (DependencyGraph Deps, PruningGroup Conv1) LenetWithDeadFilter()
    {
        var g = ModelZoo.Create("lenet5");
        var w = g.Initializers["conv1.weight"];
        long perFilter = w.Count / w.Shape[0];
        Array.Clear(w.Floats, (int)(2 * perFilter), (int)perFilter);
        g.Initializers["conv1.bias"].Floats[2] = 0f;
        var deps = DependencyGraph.Build(g);
        return (deps, deps.Prunable.Single(p => p.Producers.Contains("conv1")));
    }

    private static int ArgMin(float[] v) => Array.IndexOf(v, v.Min());

    private static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

    [Theory]
    [InlineData("l1")]
    [InlineData("l2")]
    public void Magnitude_ranks_a_zeroed_filter_lowest(string criterion)
    {
        var (deps, conv1) = LenetWithDeadFilter();
        ArgMin(Importances.Create(criterion).Score(deps, new ImportanceContext())[conv1]).ShouldBe(2);
    }

    [Theory]
    [InlineData("lenet5", 1)]
    [InlineData("mobilenetv2", 1)]
    [InlineData("resnet20", 2)]
    public void Magnitude_equals_the_torch_reference_formula(string model, int p)
    {
        // The managed one-pass implementation against the formula written with torch: rows of each slice, Lp norm, / mean, summed.
        var g = ModelZoo.Create(model, new ZooOptions(1, 28, 28, 10, Seed: 7));
        var deps = DependencyGraph.Build(g);
        var scores = new MagnitudeImportance(p).Score(deps, new ImportanceContext());
        foreach (var group in deps.Prunable)
        {
            var expected = zeros(group.Channels, dtype: ScalarType.Float64);
            foreach (var s in group.Slices)
            {
                var n = g.FindNode(s.Node)!;
                if (n.Op == OpKind.BatchNormalization && (n.Inputs[3] == s.Tensor || n.Inputs[4] == s.Tensor)) continue;
                var data = g.Initializers[s.Tensor];
                var t = tensor(data.Floats, data.Shape).to_type(ScalarType.Float64).movedim([s.Axis], [0L]);
                var rows = t.narrow(0, s.Offset * s.Factor, group.Channels * s.Factor).reshape(group.Channels, -1);
                var norm = p == 1 ? rows.abs().sum(1) : rows.square().sum(1).sqrt();
                double mean = norm.mean().item<double>();
                expected += mean > 0 ? norm / mean : norm; // an all-zero slice (a fresh BN shift) adds nothing
            }
            var actual = scores[group];
            var reference = expected.data<double>().ToArray();
            for (int j = 0; j < actual.Length; j++) actual[j].ShouldBe((float)reference[j], 1e-5 * Math.Max(1, Math.Abs(reference[j])), $"{group.Name}[{j}]");
        }
    }

    [Fact]
    public void Fpgm_does_not_rank_a_zeroed_filter_on_top()
    {
        var (deps, conv1) = LenetWithDeadFilter();
        var s = new FpgmImportance().Score(deps, new ImportanceContext())[conv1];
        ArgMax(s).ShouldNotBe(2);
        s.Distinct().Count().ShouldBe(s.Length);
    }

    [Fact]
    public void Bn_ranks_a_zero_gamma_lowest()
    {
        var g = ModelZoo.Create("resnet20");
        var gamma = g.FindNode("layer2.1.bn1")!.Inputs[1];
        g.Initializers[gamma].Floats[5] = 0f;
        var deps = DependencyGraph.Build(g);
        var group = deps.Prunable.Single(p => p.Slices.Any(s => s.Tensor == gamma));
        ArgMin(new BatchNormImportance().Score(deps, new ImportanceContext())[group]).ShouldBe(5);
    }

    [Fact]
    public void Bn_falls_back_to_l1_of_producers_without_batch_norm()
    {
        var (deps, conv1) = LenetWithDeadFilter();
        ArgMin(new BatchNormImportance().Score(deps, new ImportanceContext())[conv1]).ShouldBe(2);
    }

    [Fact]
    public void Random_is_deterministic_per_seed()
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("resnet20"));
        var random = Importances.Create("RANDOM");
        var a = random.Score(deps, new ImportanceContext(Seed: 1));
        var b = random.Score(deps, new ImportanceContext(Seed: 1));
        var c = random.Score(deps, new ImportanceContext(Seed: 2));
        foreach (var group in deps.Prunable)
        {
            a[group].ShouldBe(b[group]);
            a[group].ShouldNotBe(c[group]);
        }
    }

    [Fact]
    public void Reconstruction_scores_zero_for_a_channel_no_consumer_weight_reads()
    {
        var g = ModelZoo.Create("lenet5");
        var w = g.Initializers["conv2.weight"]; // (16, 6, 5, 5): zero input channel 3 of every filter
        for (int o = 0; o < 16; o++) Array.Clear(w.Floats, (o * 6 + 3) * 25, 25);
        var deps = DependencyGraph.Build(g);
        var conv1 = deps.Prunable.Single(p => p.Producers.Contains("conv1"));
        var scores = new ReconstructionImportance().Score(deps, WithData());
        scores[conv1][3].ShouldBe(0f);
        scores[conv1].Where((_, j) => j != 3).ShouldAllBe(v => v > 0);
        // The flattened fc1 consumer works too: every conv2 channel changes fc1's output.
        scores[deps.Prunable.Single(p => p.Producers.Contains("conv2"))].ShouldAllBe(v => v > 0);
    }

    [Fact]
    public void Reconstruction_equals_the_consumer_output_change_measured_by_removing_the_channel()
    {
        var g = ModelZoo.Create("lenet5");
        var deps = DependencyGraph.Build(g);
        var context = new ImportanceContext(Calibration.Value, MaxBatches: 1);
        var scores = new ReconstructionImportance().Score(deps, context);
        var batch = Calibration.Value.Epoch(0).First();
        // conv1's channels feed conv2 (a 5x5 conv); conv2's feed fc1 through Flatten (25 columns per channel).
        foreach (var (producer, consumer) in new[] { ("conv1", "conv2"), ("conv2", "fc1") })
        {
            var group = deps.Prunable.Single(p => p.Producers.Contains(producer));
            var output = g.FindNode(consumer)!.Output;
            var reference = ConsumerOutput(g, batch, output);
            for (int j = 0; j < group.Channels; j++)
            {
                var cut = g.Clone();
                var w = cut.Initializers[$"{consumer}.weight"];
                long outs = w.Shape[0], cols = w.Count / outs;
                // Channel j is 25 weights per output in both: a 5x5 kernel slice, or 25 flattened 5x5 positions.
                for (long o = 0; o < outs; o++) Array.Clear(w.Floats, (int)(o * cols + j * 25), 25);
                var changed = ConsumerOutput(cut, batch, output);
                double expected = reference.Zip(changed).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)) / reference.Sum(v => (double)v * v);
                scores[group][j].ShouldBe((float)expected, Math.Max(1e-6, expected * 1e-3), $"{producer} channel {j}");
            }
        }
    }

    private static float[] ConsumerOutput(ModelGraph g, Batch batch, string value)
    {
        using var module = new Secateur.Runtime.GraphModule(g);
        module.eval();
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        var (x, _) = Secateur.Training.Trainer.ToTensors(batch, module.Device);
        var values = module.Run(new Dictionary<string, TorchSharp.torch.Tensor> { [g.Inputs[0].Name] = x }, [value]);
        return values[value].contiguous().data<float>().ToArray();
    }

    [Theory]
    [MemberData(nameof(DataDriven))]
    public void Data_criteria_give_a_dead_channel_the_lowest_score(string criterion)
    {
        var (deps, conv1) = LenetWithDeadFilter();
        var s = Importances.Create(criterion).Score(deps, WithData())[conv1];
        s[2].ShouldBe(0f);
        ArgMin(s).ShouldBe(2);
    }

    [Theory]
    [MemberData(nameof(DataDriven))]
    public void Data_criteria_without_data_are_a_bad_argument(string criterion)
    {
        var deps = DependencyGraph.Build(ModelZoo.Create("lenet5"));
        var e = Should.Throw<SecateurException>(() => Importances.Create(criterion).Score(deps, new ImportanceContext()));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldBe($"criterion '{criterion}' needs calibration data");
        e.Parameter.ShouldBe(ParameterNames.Data);
    }

    [Fact]
    public void Registry_is_case_insensitive_and_lists_names_for_unknown_criteria()
    {
        Importances.Create("L2").ShouldBeOfType<MagnitudeImportance>().P.ShouldBe(2);
        Importances.Names.ShouldAllBe(n => Importances.Descriptions.ContainsKey(n) && Importances.Descriptions[n].Length > 0);
        var e = Should.Throw<SecateurException>(() => Importances.Create("hessian"));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        foreach (var n in Importances.Names) e.Message.ShouldContain(n);
    }
}
