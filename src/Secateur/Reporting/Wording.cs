using System.Globalization;

namespace Secateur.Reporting;

/// <summary>How numbers read in sentences: counts with their plural only when they are not one, times in a unit that shows them.</summary>
public static class Wording
{
    /// <summary><c>1 epoch</c>, <c>2 epochs</c>, <c>1,000 images</c>: the count (thousands separated) and the noun in agreement.</summary>
    /// <param name="count">How many.</param>
    /// <param name="singular">The noun for one, e.g. <c>epoch</c>.</param>
    /// <param name="plural">The noun for any other count (default: <paramref name="singular"/> + <c>s</c>).</param>
    public static string Count(long count, string singular, string? plural = null) =>
        count.ToString("N0", CultureInfo.InvariantCulture) + " " + Noun(count, singular, plural);

    /// <summary>The noun alone in agreement with <paramref name="count"/>: <c>epoch</c> for 1, else <c>epochs</c>.</summary>
    public static string Noun(long count, string singular, string? plural = null) =>
        count == 1 ? singular : plural ?? singular + "s";

    /// <summary>
    /// A duration that never reads <c>0 s</c>: <c>60 ms</c> and <c>4.2 ms</c> below a second, <c>3.4 s</c> below a minute,
    /// <c>754 s</c> above (whole seconds: no one reads tenths of a long run).
    /// </summary>
    /// <param name="seconds">The duration in seconds.</param>
    public static string Duration(double seconds)
    {
        var c = CultureInfo.InvariantCulture;
        double ms = seconds * 1000;
        if (seconds < 0.01) return ms.ToString("0.0", c) + " ms";
        if (seconds < 1) return ms.ToString("0", c) + " ms";
        if (seconds < 60) return seconds.ToString("0.0", c) + " s";
        return seconds.ToString("0", c) + " s";
    }

    /// <summary>A speed-up with its spread over rounds, e.g. <c>1.00x (0.99-1.01)</c>; the spread is left out when there is none.</summary>
    /// <param name="speedup">The ratio (median over rounds).</param>
    /// <param name="low">Lower quartile of the rounds' ratios, if known.</param>
    /// <param name="high">Upper quartile of the rounds' ratios, if known.</param>
    public static string Spread(double speedup, double? low, double? high)
    {
        var text = speedup.ToString("0.00", CultureInfo.InvariantCulture) + "x";
        return low is { } l && high is { } h && h > l
            ? text + string.Create(CultureInfo.InvariantCulture, $" ({l:0.00}-{h:0.00})")
            : text;
    }

    /// <summary>
    /// One fixed-point format for every value of a column (so the column reads as one precision): enough decimals to
    /// show three significant digits of the smallest non-zero magnitude, at most three (<c>0.000</c> for 0.18 and 25,
    /// <c>0.0</c> for 25 and 310, <c>0</c> from 100 up).
    /// </summary>
    /// <param name="values">The column's values.</param>
    public static string Format(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double smallest = values.Select(Math.Abs).Where(v => v > 0 && double.IsFinite(v)).DefaultIfEmpty(100).Min();
        int decimals = smallest >= 100 ? 0 : smallest >= 10 ? 1 : smallest >= 1 ? 2 : 3;
        return decimals == 0 ? "0" : "0." + new string('0', decimals);
    }
}
