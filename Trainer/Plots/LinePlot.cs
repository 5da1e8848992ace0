using ScottPlot;
using ScottPlot.TickGenerators;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Plots;

/// <summary>
/// One named curve. Markers only (no line) suits measured points; a line suits fitted laws and loss curves. A band
/// (e.g. a bootstrap interval) is filled between its low and high values at the curve's x, in the curve's colour.
/// <paramref name="Color"/> (hex, "#1f77b4") and <paramref name="Style"/> let a figure tie curves together (one colour
/// per budget, one style per family); without a colour the plot's palette picks the next.
/// </summary>
public sealed record PlotSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, bool Markers = false, bool Line = true,
    PlotBand? Band = null, string? Color = null, LineStyle Style = LineStyle.Solid);

/// <summary>How a series' line is drawn.</summary>
public enum LineStyle { Solid, Dashed, Dotted }

/// <summary>The lower and upper edge of a filled band, one value per x of its series.</summary>
public sealed record PlotBand(IReadOnlyList<double> Low, IReadOnlyList<double> High);

/// <summary>What the figure shows around its series.</summary>
public sealed record LinePlotSpec(string Title, string XLabel, string YLabel)
{
    public bool LogX { get; init; }
    public bool LogY { get; init; }
    /// <summary>Dashed vertical lines, e.g. epoch boundaries on a loss-vs-tokens plot (in data units).</summary>
    public IReadOnlyList<double> VerticalLines { get; init; } = [];
    public int Width { get; init; } = 900;
    public int Height { get; init; } = 560;
}

/// <summary>
/// Line plots saved to PNG (ScottPlot 5 on SkiaSharp). ScottPlot has no native log axis: a log axis plots
/// log10 of the data, with major ticks at integer powers of ten labelled as such and log-spaced minor ticks.
/// Points that a log axis cannot show (zero, negative, non-finite) are dropped from that series.
/// </summary>
public static class LinePlot
{
    public static void Save(string path, LinePlotSpec spec, IEnumerable<PlotSeries> series)
    {
        var plot = new Plot();
        plot.Title(spec.Title);
        plot.XLabel(spec.XLabel);
        plot.YLabel(spec.YLabel);
        bool anyNamed = false;
        var xRange = new List<double>();
        var yRange = new List<double>();
        foreach (var curve in series)
        {
            if (curve.X.Count != curve.Y.Count || (curve.Band is { } band && (band.Low.Count != curve.X.Count || band.High.Count != curve.X.Count)))
                throw new ArgumentException($"Series '{curve.Name}' has {curve.X.Count} x values and {curve.Y.Count} y values" +
                                            (curve.Band is null ? "." : $", {curve.Band.Low.Count} band lows and {curve.Band.High.Count} band highs."));
            var (xs, ys) = Transform(curve.X, [curve.Y], spec);
            if (xs.Length == 0) continue;
            xRange.AddRange(xs);
            yRange.AddRange(ys[0]);
            var scatter = plot.Add.Scatter(xs, ys[0]);
            scatter.LegendText = curve.Name;
            scatter.MarkerSize = curve.Markers ? 7 : 0;
            scatter.LineWidth = curve.Line ? 2 : 0;
            if (curve.Color is not null) scatter.Color = ScottPlot.Color.FromHex(curve.Color);
            scatter.LinePattern = curve.Style switch { LineStyle.Dashed => LinePattern.Dashed, LineStyle.Dotted => LinePattern.Dotted, _ => LinePattern.Solid };
            anyNamed |= curve.Name.Length > 0;
            if (curve.Band is not null)
            {
                var (bandXs, edges) = Transform(curve.X, [curve.Band.Low, curve.Band.High], spec);
                if (bandXs.Length == 0) continue;
                yRange.AddRange(edges.SelectMany(edge => edge));
                var fill = plot.Add.FillY(bandXs, edges[0], edges[1]);
                fill.FillColor = scatter.Color.WithAlpha(0.2);
                fill.LineWidth = 0;
                plot.MoveToBack(fill); // under every line and marker
            }
        }
        foreach (double x in spec.VerticalLines)
        {
            if (spec.LogX && !(x > 0)) continue;
            var line = plot.Add.VerticalLine(spec.LogX ? Math.Log10(x) : x);
            line.LinePattern = LinePattern.Dashed;
            line.LineWidth = 1;
            line.Color = Colors.Gray.WithAlpha(0.6);
        }
        if (spec.LogX && xRange.Count > 0) plot.Axes.Bottom.TickGenerator = LogTicks(xRange.Min(), xRange.Max());
        if (spec.LogY && yRange.Count > 0) plot.Axes.Left.TickGenerator = LogTicks(yRange.Min(), yRange.Max());
        if (anyNamed) plot.ShowLegend(Edge.Right); // beside the data area, so it never hides a point

        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        try
        {
            plot.SavePng(path, spec.Width, spec.Height);
        }
        catch (Exception error) when (error is TypeInitializationException or DllNotFoundException)
        {
            throw new VkDiffusionException(
                $"Could not draw {path}: SkiaSharp's native library did not load ({error.GetBaseException().Message}).", ExitCodes.Failure, error);
        }
    }

    /// <summary>The points where x and every y column can be shown (finite; positive on a log axis), log10 taken on log axes.</summary>
    private static (double[] X, double[][] Columns) Transform(IReadOnlyList<double> x, IReadOnlyList<double>[] columns, LinePlotSpec spec)
    {
        bool Shown(double value, bool log) => double.IsFinite(value) && (!log || value > 0);
        double Axis(double value, bool log) => log ? Math.Log10(value) : value;
        var kept = Enumerable.Range(0, x.Count).Where(i => Shown(x[i], spec.LogX) && columns.All(column => Shown(column[i], spec.LogY))).ToList();
        return (kept.Select(i => Axis(x[i], spec.LogX)).ToArray(),
            columns.Select(column => kept.Select(i => Axis(column[i], spec.LogY)).ToArray()).ToArray());
    }

    /// <summary>
    /// Ticks for an axis that plots log10 of the data, spanning [lowLog10, highLog10] (padded by half a decade for
    /// the autoscale margin): labelled 1·10^k ticks and unlabelled 2..9·10^k minor ticks; under three decades the
    /// 2·10^k and 5·10^k ticks are labelled too, so a short axis still has several labels.
    /// </summary>
    private static NumericManual LogTicks(double lowLog10, double highLog10)
    {
        var ticks = new NumericManual();
        bool dense = highLog10 - lowLog10 < 3;
        for (int power = (int)Math.Floor(lowLog10 - 0.5); power <= (int)Math.Ceiling(highLog10 + 0.5); power++)
        {
            for (int mantissa = 1; mantissa <= 9; mantissa++)
            {
                double position = power + Math.Log10(mantissa);
                if (mantissa == 1 || (dense && mantissa is 2 or 5)) ticks.AddMajor(position, $"{mantissa}e{power}");
                else ticks.AddMinor(position);
            }
        }
        return ticks;
    }
}
