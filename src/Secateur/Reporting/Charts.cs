using ScottPlot;

namespace Secateur.Reporting;

/// <summary>The report's charts as standalone SVG text, drawn with ScottPlot (no network, no script needed to view).</summary>
public static class Charts
{
    private const int Width = 900;
    private const int Height = 380;
    private static readonly Color BeforeColor = Color.FromHex("#9aa5b1");
    private static readonly Color AfterColor = Color.FromHex("#2f7d32");

    /// <summary>Grouped bars: each layer's size before (grey) and after (green).</summary>
    public static string Layers(IReadOnlyList<LayerChange> layers, string unit)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var plot = new Plot();
        var bars = new List<Bar>();
        for (int i = 0; i < layers.Count; i++)
        {
            bars.Add(new Bar { Position = i - 0.2, Value = layers[i].Before, FillColor = BeforeColor, Size = 0.4, LineWidth = 0 });
            bars.Add(new Bar { Position = i + 0.2, Value = layers[i].After, FillColor = AfterColor, Size = 0.4, LineWidth = 0 });
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, layers.Count).Select(i => (double)i).ToArray(), layers.Select(l => Shorten(l.Name)).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = -60;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 100;
        plot.Axes.Margins(bottom: 0);
        plot.YLabel(unit);
        plot.Title($"{unit} per layer: before and after");
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "before", FillColor = BeforeColor });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "after", FillColor = AfterColor });
        plot.ShowLegend(Alignment.UpperLeft);
        return plot.GetSvgXml(Math.Max(Width, 40 + 22 * layers.Count), Height + 40);
    }

    /// <summary>Accuracy against MACs: the dense baseline marked, the other points joined in the order they were evaluated.</summary>
    public static string TradeOff(IReadOnlyList<TradeOffPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var plot = new Plot();
        var others = points.Where(p => !p.Baseline).ToList();
        if (others.Count > 0)
        {
            var line = plot.Add.Scatter(others.Select(p => p.Macs / 1e6).ToArray(), others.Select(p => p.Accuracy * 100).ToArray(), AfterColor);
            line.LegendText = "pruned";
            line.MarkerSize = 9;
            foreach (var p in others)
            {
                var text = plot.Add.Text(p.Label, p.Macs / 1e6, p.Accuracy * 100);
                text.LabelFontSize = 11;
                text.OffsetX = 8;
                text.OffsetY = -8;
            }
        }
        foreach (var b in points.Where(p => p.Baseline))
        {
            var m = plot.Add.Marker(b.Macs / 1e6, b.Accuracy * 100, MarkerShape.FilledDiamond, 14, Colors.Black);
            m.LegendText = $"{b.Label} {b.Accuracy:P2}";
            var h = plot.Add.HorizontalLine(b.Accuracy * 100, 1, Colors.Black, LinePattern.Dotted);
            h.LegendText = "";
        }
        plot.Axes.Margins(0.12, 0.15);
        plot.XLabel("MACs (millions)");
        plot.YLabel("accuracy (%)");
        plot.Title("accuracy against compute");
        plot.ShowLegend(Alignment.LowerRight);
        return plot.GetSvgXml(Width, Height);
    }

    /// <summary>One line per group: accuracy with that group alone pruned at each ratio; the baseline dotted.</summary>
    public static string Sensitivity(IReadOnlyList<SensitivityCurve> curves, double? baseline)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category20();
        for (int i = 0; i < curves.Count; i++)
        {
            var c = curves[i];
            var xs = c.Points.Select(p => p.Ratio).Prepend(0).ToArray();
            var ys = c.Points.Select(p => p.Accuracy * 100).Prepend((baseline ?? c.Points.FirstOrDefault()?.Accuracy ?? 0) * 100).ToArray();
            var s = plot.Add.Scatter(xs, ys, palette.GetColor(i));
            s.MarkerSize = 5;
            // A legend of more than a screenful of groups helps nobody; the JSON and the table name them all.
            if (curves.Count <= 20) s.LegendText = Shorten(c.Group);
        }
        if (baseline is { } b) plot.Add.HorizontalLine(b * 100, 1, Colors.Black, LinePattern.Dotted);
        plot.XLabel("fraction of the group's channels removed");
        plot.YLabel("accuracy (%)");
        plot.Title("sensitivity: each group pruned alone");
        if (curves.Count <= 20) plot.ShowLegend(Alignment.LowerLeft);
        return plot.GetSvgXml(Width, Height + 80);
    }

    /// <summary>Training loss (left axis) and train/test accuracy (right axis) per epoch.</summary>
    public static string Training(IReadOnlyList<EpochPoint> epochs)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        var plot = new Plot();
        var xs = epochs.Select(e => (double)e.Index).ToArray();
        var loss = plot.Add.Scatter(xs, epochs.Select(e => e.TrainLoss).ToArray(), Colors.OrangeRed);
        loss.LegendText = "train loss";
        var right = plot.Axes.Right;
        var train = plot.Add.Scatter(xs, epochs.Select(e => e.TrainAccuracy * 100).ToArray(), Colors.SteelBlue);
        train.LegendText = "train accuracy (%)";
        train.Axes.YAxis = right;
        var tested = epochs.Where(e => e.TestAccuracy is not null).ToList();
        if (tested.Count > 0)
        {
            var test = plot.Add.Scatter(tested.Select(e => (double)e.Index).ToArray(), tested.Select(e => e.TestAccuracy!.Value * 100).ToArray(), AfterColor);
            test.LegendText = "test accuracy (%)";
            test.Axes.YAxis = right;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.XLabel("epoch");
        plot.YLabel("loss");
        right.Label.Text = "accuracy (%)";
        plot.Title("training");
        plot.ShowLegend(Alignment.MiddleRight);
        return plot.GetSvgXml(Width, Height);
    }

    private static string Shorten(string name) => name.Length <= 28 ? name : "…" + name[^27..];
}
