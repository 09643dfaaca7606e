using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Runtime;
using Secateur.Training;
using TorchSharp;

namespace Secateur.Tests.Training;

public sealed class TrainerTests
{
    private static readonly DataSet Data = DataSource.Resolve("embedded");

    private static DataSet Small(int n) => Data.WithTrain(Data.Train.Take(n)) with { Test = Data.Test.Take(200) };

    private static ModelGraph Train(TrainingOptions options, DataSet data, CancellationToken cancel = default, ModelGraph? start = null)
    {
        using var module = new GraphModule(start ?? ModelZoo.Create("lenet5"));
        var trainer = new Trainer(module, options);
        try { trainer.Fit(data.TrainLoader(options.BatchSize, options.Seed, options.Augment), null, null, null, cancel); }
        catch (OperationCanceledException) { }
        return module.ToGraph();
    }

    private static void ShouldBeIdentical(ModelGraph a, ModelGraph b)
    {
        foreach (var (name, t) in a.Initializers)
            b.Initializers[name].Floats.SequenceEqual(t.Floats).ShouldBeTrue($"tensor {name} differs");
    }

    [Fact]
    public void Training_is_deterministic_for_a_seed_and_changes_with_it()
    {
        var data = Small(256);
        var options = new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 0.05, Seed = 3 };
        var a = Train(options, data);
        var b = Train(options, data);
        ShouldBeIdentical(a, b);
        var c = Train(options with { Seed = 4 }, data);
        c.Initializers["conv1.weight"].Floats.SequenceEqual(a.Initializers["conv1.weight"].Floats).ShouldBeFalse();
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Training_learns_the_embedded_data()
    {
        var data = Small(1500);
        using var module = new GraphModule(ModelZoo.Create("lenet5"));
        var before = Trainer.Evaluate(module, data.TestLoader());
        var history = new Trainer(module, new TrainingOptions { Epochs = 3, BatchSize = 64, LearningRate = 0.05 })
            .Fit(data.TrainLoader(64, 0), data.TestLoader());
        history.Count.ShouldBe(3);
        history[^1].Train.Loss.ShouldBeLessThan(history[0].Train.Loss);
        history[^1].Test!.Top1.ShouldBeGreaterThan(0.6); // chance is 0.1
        history[^1].Test!.Top1.ShouldBeGreaterThan(before.Top1 + 0.3);
        history[^1].Test!.Top5!.Value.ShouldBeGreaterThanOrEqualTo(history[^1].Test!.Top1);
    }

    [Fact]
    public void Resuming_from_a_checkpoint_reproduces_the_uninterrupted_run()
    {
        var data = Small(256);
        var dir = Directory.CreateTempSubdirectory("secateur-ckpt");
        try
        {
            var path = Path.Combine(dir.FullName, "run.ckpt");
            var options = new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 0.05, Seed = 1, CheckpointPath = path };
            var uninterrupted = Train(options with { CheckpointPath = null }, data);

            // "Kill" the run after its first epoch: the checkpoint of epoch 1 must be on disk, complete.
            using (var cts = new CancellationTokenSource())
            using (var module = new GraphModule(ModelZoo.Create("lenet5")))
            {
                Should.Throw<OperationCanceledException>(() => new Trainer(module, options)
                    .Fit(data.TrainLoader(64, 1), onEpoch: _ => cts.Cancel(), cancellation: cts.Token));
            }
            File.Exists(path).ShouldBeTrue();
            Directory.GetFiles(dir.FullName).Length.ShouldBe(1); // no temporary file left behind
            Checkpoint.LoadGraph(path).ShouldNotBeNull();

            var resumed = Train(options with { Resume = true }, data);
            ShouldBeIdentical(uninterrupted, resumed);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Checkpoint_of_another_model_is_rejected_clearly()
    {
        var data = Small(64);
        var dir = Directory.CreateTempSubdirectory("secateur-ckpt");
        try
        {
            var path = Path.Combine(dir.FullName, "run.ckpt");
            Train(new TrainingOptions { Epochs = 1, BatchSize = 64, CheckpointPath = path }, data);
            var ex = Should.Throw<SecateurException>(() =>
                Train(new TrainingOptions { Epochs = 2, BatchSize = 64, CheckpointPath = path, Resume = true }, data,
                    start: ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 5))));
            ex.Code.ShouldBe(ErrorCode.BadFile);
            ex.Message.ShouldContain("fc3");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Resuming_under_another_epoch_count_is_refused()
    {
        var data = Small(64);
        var dir = Directory.CreateTempSubdirectory("secateur-ckpt");
        try
        {
            var path = Path.Combine(dir.FullName, "run.ckpt");
            var options = new TrainingOptions { Epochs = 1, BatchSize = 64, CheckpointPath = path };
            Train(options, data);
            var ex = Should.Throw<SecateurException>(() => Train(options with { Epochs = 3, Resume = true }, data));
            ex.Code.ShouldBe(ErrorCode.BadArgument);
            ex.Parameter.ShouldBe(nameof(TrainingOptions.CheckpointPath));
            ex.Message.ShouldContain("1 epochs and this run has 3");
            Should.NotThrow(() => Train(options with { Resume = true }, data)); // the same count resumes (here: nothing left to do)
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void Repeated_train_and_eval_cycles_do_not_grow_live_tensors()
    {
        var data = Small(128);
        using var module = new GraphModule(ModelZoo.Create("resnet20"));
        var trainer = new Trainer(module, new TrainingOptions { Epochs = 1, BatchSize = 64 });
        void Cycle()
        {
            trainer.Fit(data.TrainLoader(64, 0));
            Trainer.Evaluate(module, data.TestLoader(100));
        }
        Cycle();
        GC.Collect(); GC.WaitForPendingFinalizers();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) Cycle();
        GC.Collect(); GC.WaitForPendingFinalizers();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        (after - before).ShouldBeLessThanOrEqualTo(0);
    }

    [Theory]
    [InlineData(0, 0.004)]      // one-cycle starts at peak / 25
    [InlineData(149, 0.1)]      // and peaks at the end of the 15% warm-up
    [InlineData(999, 0.0000004)] // ending at peak / 25 / 1e4
    public void One_cycle_matches_pytorch(long step, double expected) =>
        LearningRateSchedule.At(ScheduleKind.OneCycle, 0.1, step, 1000).ShouldBe(expected, 1e-9);

    [Fact]
    public void Cosine_anneals_from_the_peak_to_zero()
    {
        LearningRateSchedule.At(ScheduleKind.Cosine, 0.01, 0, 100).ShouldBe(0.01, 1e-12);
        LearningRateSchedule.At(ScheduleKind.Cosine, 0.01, 50, 100).ShouldBe(0.005, 1e-12);
        LearningRateSchedule.At(ScheduleKind.Cosine, 0.01, 99, 100).ShouldBeLessThan(1e-5);
    }

    [Fact]
    public void Invalid_options_are_rejected_with_the_value_named()
    {
        Should.Throw<SecateurException>(() => new TrainingOptions { LearningRate = -1 }.Validated()).Message.ShouldContain("learning rate");
        Should.Throw<SecateurException>(() => new TrainingOptions { BatchSize = 0 }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new TrainingOptions { Resume = true }.Validated()).Message.ShouldContain("checkpoint");
    }
}
