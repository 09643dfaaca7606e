using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Tests.Segmentation;

public sealed class SegmentationMetricsTests
{
    // Four classes; class 3 appears neither in the targets nor in the predictions; 255 is ignored.
    //   target:    0 0 1 1 2 255 0 2
    //   predicted: 0 1 1 1 0 2   0 2
    // Counted pixels (7): (0,0) (0,1) (1,1) (1,1) (2,0) (0,0) (2,2).
    //   class 0: TP 2, FP 1 (the 2 predicted 0), FN 1 (the 0 predicted 1) -> IoU 2/4 = 0.5
    //   class 1: TP 2, FP 1, FN 0 -> 2/3
    //   class 2: TP 1, FP 0 (the ignored pixel's prediction is not counted), FN 1 -> 1/2
    //   class 3: no union -> NaN, left out of the mean: mIoU = (1/2 + 2/3 + 1/2) / 3 = 5/9; pixel accuracy 5/7.
    private static readonly long[] Targets = [0, 0, 1, 1, 2, 255, 0, 2];
    private static readonly long[] Predictions = [0, 1, 1, 1, 0, 2, 0, 2];

    [Fact]
    public void Mean_IoU_and_pixel_accuracy_match_a_hand_computed_case_with_an_ignored_pixel_and_an_absent_class()
    {
        var m = new SegmentationMetrics(4, ignoreIndex: 255);
        m.Add(Targets, Predictions);
        var s = m.Compute();
        s.Pixels.ShouldBe(7);
        s.ClassIoU[0].ShouldBe(0.5, 1e-12);
        s.ClassIoU[1].ShouldBe(2.0 / 3, 1e-12);
        s.ClassIoU[2].ShouldBe(0.5, 1e-12);
        double.IsNaN(s.ClassIoU[3]).ShouldBeTrue();
        s.MeanIoU.ShouldBe(5.0 / 9, 1e-12);
        s.PixelAccuracy.ShouldBe(5.0 / 7, 1e-12);
        m[0, 1].ShouldBe(1);
        m[2, 0].ShouldBe(1);
    }

    [Fact]
    public void Scoring_logits_counts_the_same_matrix_as_scoring_class_indices()
    {
        // Logits (1, 4, 2, 4) whose argmax over the classes is Predictions, laid out as a 2×4 image.
        var logits = zeros(1, 4, 2, 4);
        for (int i = 0; i < Predictions.Length; i++) logits[0, Predictions[i], i / 4, i % 4] = 1f;
        var fromTensors = new SegmentationMetrics(4, 255);
        fromTensors.Add(logits, tensor(Targets, [1, 2, 4]));
        var fromSpans = new SegmentationMetrics(4, 255);
        fromSpans.Add(Targets, Predictions);
        for (int t = 0; t < 4; t++)
            for (int p = 0; p < 4; p++)
                fromTensors[t, p].ShouldBe(fromSpans[t, p], $"target {t}, predicted {p}");
        fromTensors.Compute().MeanIoU.ShouldBe(5.0 / 9, 1e-12);
    }

    [Fact]
    public void A_target_class_outside_the_model_s_classes_is_an_error_not_a_silent_count()
    {
        var m = new SegmentationMetrics(3, 255);
        Should.Throw<ArgumentOutOfRangeException>(() => m.Add([0, 3], [0, 0]));
        var e = Should.Throw<SecateurException>(() => m.Add(zeros(1, 3, 1, 2), tensor(new long[] { 0, 7 }, [1, 1, 2])));
        e.Parameter.ShouldBe(ParameterNames.Data);
    }
}
