using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Tests.Training;

/// <summary>bfloat16 mixed-precision training (issue 16): what it computes in, what it leaves in float32.</summary>
public sealed class PrecisionTests
{
    private static readonly DataSet Data = DataSource.Resolve("embedded");

    private static bool CpuHasBFloat16 =>
        PrecisionSupport.CpuHasBFloat16(File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "" : "");

    [Theory]
    [InlineData("flags\t\t: fpu avx512f avx512_bf16 avx512_vnni", true)]
    [InlineData("flags\t\t: fpu amx_tile amx_bf16", true)]
    [InlineData("flags\t\t: fpu avx512f avx512_vnni", false)]
    [InlineData("flags\t\t: fpu xavx512_bf16y", false)]
    [InlineData("", false)]
    public void Bfloat16_support_is_read_from_the_cpu_flags(string flags, bool expected) =>
        PrecisionSupport.CpuHasBFloat16(flags).ShouldBe(expected);

    /// <summary>One step of ResNet-20 (convolutions, batch norm, a Gemm) at <paramref name="precision"/>, from the same start.</summary>
    private static (ModelGraph After, GraphModule Module) Step(ModelGraph graph, Precision precision)
    {
        var module = new GraphModule(graph);
        var data = Data.WithTrain(Data.Train.Take(32));
        new Trainer(module, new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.1, Schedule = ScheduleKind.Constant, Precision = precision })
            .Fit(data.TrainLoader(32, 0));
        return (module.ToGraph(), module);
    }

    [SkippableFact]
    public void A_bfloat16_step_updates_float32_master_weights_and_float32_batch_norm_statistics()
    {
        Skip.IfNot(CpuHasBFloat16, "this CPU has no native bfloat16 arithmetic (see the refusal test)");
        var before = ModelZoo.Create("resnet20");
        var weight = before.Nodes.First(n => n.Op == OpKind.Conv).Inputs[1];
        var (after, module) = Step(before, Precision.BFloat16);
        using (module)
        {
            // Master weights: still float32 tensors after the step, and changed by it.
            foreach (var (name, p) in module.GraphParameters())
                p.dtype.ShouldBe(ScalarType.Float32, $"parameter {name}");
            after.Initializers[weight].Floats.SequenceEqual(before.Initializers[weight].Floats).ShouldBeFalse("the step did not change the first convolution");
            // Batch-norm running statistics: float32 buffers, updated from the (float32) batch statistics.
            var buffers = before.BufferNames();
            buffers.ShouldNotBeEmpty();
            foreach (var name in buffers)
            {
                module.Tensor(name).dtype.ShouldBe(ScalarType.Float32, $"buffer {name}");
                after.Initializers[name].Floats.SequenceEqual(before.Initializers[name].Floats).ShouldBeFalse($"buffer {name} was not updated");
            }
            module.Precision.ShouldBe(Precision.Float32, "training must hand the module back in its own precision");
        }
        // The step really ran in bfloat16: close to the float32 step, but not equal to it.
        var (fp32, reference) = Step(before, Precision.Float32);
        reference.Dispose();
        // Cosine of the two updates over every parameter: the same direction, up to bfloat16's rounding.
        double dot = 0, na = 0, nb = 0;
        foreach (var name in before.ParameterNames())
        {
            var x0 = before.Initializers[name].Floats;
            var xa = after.Initializers[name].Floats;
            var xb = fp32.Initializers[name].Floats;
            for (int i = 0; i < x0.Length; i++)
            {
                double da = xa[i] - x0[i], db = xb[i] - x0[i];
                dot += da * db; na += da * da; nb += db * db;
            }
        }
        double cosine = dot / Math.Sqrt(na * nb);
        cosine.ShouldBeLessThan(1.0 - 1e-9, "bfloat16 gave the float32 update: the casts were not applied");
        cosine.ShouldBeGreaterThan(0.9, "the bfloat16 update should be a rounding of the float32 one");
    }

    [SkippableFact]
    public void Bfloat16_forward_is_a_rounding_of_float32_and_returns_float32()
    {
        Skip.IfNot(CpuHasBFloat16, "this CPU has no native bfloat16 arithmetic");
        using var module = new GraphModule(ModelZoo.Create("resnet20"));
        module.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn(4, 1, 28, 28, generator: new TorchSharp.torch.Generator(1));
        var exact = module.forward(x);
        module.Precision = Precision.BFloat16;
        var mixed = module.forward(x);
        mixed.dtype.ShouldBe(ScalarType.Float32);
        mixed.eq(exact).all().item<bool>().ShouldBeFalse();
        (mixed - exact).abs().max().item<float>().ShouldBeLessThan(0.1f * exact.abs().max().item<float>() + 1e-3f);
    }

    [SkippableFact]
    public void Bfloat16_is_refused_with_a_clear_message_where_the_cpu_lacks_it()
    {
        Skip.If(CpuHasBFloat16, "this CPU has native bfloat16 arithmetic: nothing to refuse");
        using var module = new GraphModule(ModelZoo.Create("lenet5"));
        var e = Should.Throw<SecateurException>(() => new Trainer(module, new TrainingOptions { Precision = Precision.BFloat16 })
            .Fit(Data.WithTrain(Data.Train.Take(32)).TrainLoader(32, 0)));
        e.Code.ShouldBe(ErrorCode.DeviceUnavailable);
        e.Parameter.ShouldBe(nameof(TrainingOptions.Precision));
        e.Message.ShouldContain("bfloat16");
    }

    [Fact]
    public void The_profile_accounts_for_the_steps_and_does_not_change_the_result()
    {
        var data = Data.WithTrain(Data.Train.Take(192));
        var options = new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.05, Seed = 2 };
        ModelGraph Run(TrainingProfile? profile)
        {
            using var module = new GraphModule(ModelZoo.Create("lenet5"));
            new Trainer(module, options) { Profile = profile }.Fit(data.TrainLoader(32, 2));
            return module.ToGraph();
        }
        var profile = new TrainingProfile(skipBatches: 2);
        var profiled = Run(profile);
        var plain = Run(null);
        foreach (var (name, t) in plain.Initializers)
            profiled.Initializers[name].Floats.SequenceEqual(t.Floats).ShouldBeTrue($"tensor {name} differs with the profile on");
        profile.Batches.ShouldBe(4);
        profile.Images.ShouldBe(128);
        profile.Phases.Keys.ShouldBe(TrainingProfile.PhaseNames);
        profile.Phases["forward"].ShouldBeGreaterThan(TimeSpan.Zero);
        profile.Phases["backward"].ShouldBeGreaterThan(TimeSpan.Zero);
        var accounted = profile.Phases.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b);
        accounted.ShouldBeLessThanOrEqualTo(profile.Total + TimeSpan.FromMilliseconds(1));
        profile.ToTable().ShouldContain("| backward |");
    }
}
