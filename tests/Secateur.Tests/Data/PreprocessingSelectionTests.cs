using Secateur.Data;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Runtime;
using Secateur.Training;

namespace Secateur.Tests.Data;

/// <summary>Issue 17: a model without a recorded preprocessing is never fed a silent guess.</summary>
public sealed class PreprocessingSelectionTests
{
    private static readonly DataSet Embedded = DataSource.Resolve("embedded");

    // LeNet-5 trained briefly on [0, 1] pixels without normalisation (torchvision's ToTensor() alone, the issue's
    // case), with nothing recorded: the right answer is "unit", and the dataset's own statistics are wrong.
    private static readonly Lazy<ModelGraph> UnitModel = new(() =>
    {
        var data = Embedded.WithPreprocessing(InputPreprocessing.Unit);
        using var module = new GraphModule(ModelZoo.Create("lenet5"));
        new Trainer(module, new TrainingOptions { Epochs = 5, BatchSize = 64, LearningRate = 0.1, Augment = false, Seed = 1 })
            .Fit(data.TrainLoader(64, 1, augment: false));
        var graph = module.ToGraph();
        graph.Preprocessing.ShouldBeNull();
        return graph;
    });

    [Fact]
    public void It_picks_the_preprocessing_the_model_was_trained_with_and_reports_every_candidate()
    {
        var choice = PreprocessingSelection.Choose(UnitModel.Value, Embedded.Test);

        choice.Recorded.ShouldBeFalse();
        choice.Chosen.ShouldBe(InputPreprocessing.Unit);
        choice.Samples.ShouldBe(300);
        // A 1-channel model: the presets whose statistics fit one channel, best first.
        choice.Candidates.Select(c => c.Name).Order().ShouldBe(["fashion-mnist", "raw255", "symmetric", "unit"]);
        choice.Candidates[0].Name.ShouldBe("unit", choice.Reason);
        choice.Candidates[0].Accuracy.ShouldBeGreaterThan(0.6);
        var dataset = choice.Candidates.Single(c => c.Name == "fashion-mnist").Accuracy;
        dataset.ShouldBeLessThan(choice.Candidates[0].Accuracy - 0.05, choice.Reason); // the 91.5% → 59.7% in miniature
        choice.Candidates.Single(c => c.Name == "symmetric").Accuracy.ShouldBeLessThan(choice.Candidates[0].Accuracy, choice.Reason);
        choice.Clear.ShouldBeTrue(choice.Reason);
        choice.Reason.ShouldStartWith("the model records no input preprocessing; unit scored ");
        choice.Reason.ShouldContain("on 300 labelled images, ahead of ");
        foreach (var c in choice.Candidates.Skip(1)) choice.Reason.ShouldContain(c.Name + " ");
    }

    [Fact]
    public void Explicit_candidates_are_the_only_ones_tried()
    {
        var options = new PreprocessingSelectionOptions { Samples = 100, Candidates = [InputPreprocessing.Raw255, InputPreprocessing.Unit] };
        var choice = PreprocessingSelection.Choose(UnitModel.Value, Embedded.Test, options);
        choice.Chosen.ShouldBe(InputPreprocessing.Unit);
        choice.Candidates.Count.ShouldBe(2);
        choice.Samples.ShouldBe(100);

        // A candidate whose batches do not fit the model's input is refused in words, not by a runtime shape error.
        var nhwc = options with { Candidates = [InputPreprocessing.Unit with { Layout = InputLayout.Nhwc }] };
        var e = Should.Throw<SecateurException>(() => PreprocessingSelection.Choose(ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 10)), Embedded.Test, nhwc));
        e.Parameter.ShouldBe(ParameterNames.Preprocessing);
        e.Message.ShouldContain("makes samples of 28x28x1, the model's input is Nx1x28x28");
    }

    [Fact]
    public void A_recorded_preprocessing_is_used_without_evaluating()
    {
        var g = ModelZoo.Create("lenet5");
        g.Preprocessing = InputPreprocessing.FashionMnist;
        var choice = PreprocessingSelection.Choose(g, null);
        choice.Recorded.ShouldBeTrue();
        choice.Chosen.ShouldBe(InputPreprocessing.FashionMnist);
        choice.Candidates.ShouldBeEmpty();
        choice.Reason.ShouldBe("the model records its input preprocessing (fashion-mnist)");
    }

    [Fact]
    public void Without_labelled_images_it_stops_with_one_neutral_line()
    {
        var e = Should.Throw<SecateurException>(() => PreprocessingSelection.Choose(ModelZoo.Create("lenet5"), null));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Parameter.ShouldBe(ParameterNames.Preprocessing);
        e.Message.ShouldBe("the model records no input preprocessing and there are no labelled images to choose one by; give the preprocessing explicitly");

        // Labels of more classes than the model has outputs cannot judge it either.
        var five = ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 5));
        var mismatch = Should.Throw<SecateurException>(() => PreprocessingSelection.Choose(five, Embedded.Test));
        mismatch.Parameter.ShouldBe(ParameterNames.Preprocessing);
        mismatch.Message.ShouldContain("10 classes do not fit its 5 outputs");
    }

    [Fact]
    public void Default_candidates_follow_the_models_input_channels_and_layout()
    {
        // A 3-channel NCHW model shown gray images: every preset, converted gray → RGB.
        var rgb = ModelZoo.Create("lenet5", new ZooOptions(3, 28, 28, 10));
        var candidates = PreprocessingSelection.DefaultCandidates(rgb, new ImageShape(1, 28, 28));
        candidates.Count.ShouldBe(InputPreprocessing.Presets.Count);
        candidates.ShouldAllBe(c => c.Color == ColorConversion.GrayToRgb && c.Layout == InputLayout.Nchw);

        // An input N×28×28×3 only fits the images as NHWC.
        var nhwc = new ModelGraph("nhwc");
        nhwc.Inputs.Add(ValueInfo.Batched("x", 28, 28, 3));
        PreprocessingSelection.DefaultCandidates(nhwc, new ImageShape(3, 28, 28)).ShouldAllBe(c => c.Layout == InputLayout.Nhwc);

        // Colour images into a colour model: every preset in RGB order, then in BGR order (OpenCV, Caffe).
        var colour = PreprocessingSelection.DefaultCandidates(rgb, new ImageShape(3, 28, 28));
        colour.Count.ShouldBe(2 * InputPreprocessing.Presets.Count);
        colour.Take(InputPreprocessing.Presets.Count).ShouldAllBe(c => c.Order == ChannelOrder.Rgb && c.Color == ColorConversion.None);
        colour.Skip(InputPreprocessing.Presets.Count).ShouldAllBe(c => c.Order == ChannelOrder.Bgr);
        colour.ShouldContain(InputPreprocessing.Unit with { Order = ChannelOrder.Bgr });

        var e = Should.Throw<SecateurException>(() => PreprocessingSelection.DefaultCandidates(rgb, new ImageShape(1, 32, 32)));
        e.Parameter.ShouldBe(ParameterNames.Preprocessing);
    }
}
