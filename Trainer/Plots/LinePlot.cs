using ScottPlot;
using ScottPlot.TickGenerators;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Plots;

/// <summary>One named curve. Markers only (no line) suits measured points; a line suits fitted laws and loss curves.</summary>
public sealed record PlotSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, bool Markers = false, bool Line = true);

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
            if (curve.X.Count != curve.Y.Count)
                throw new ArgumentException($"Series '{curve.Name}' has {curve.X.Count} x values and {curve.Y.Count} y values.");
            var (xs, ys) = Transform(curve, spec);
            if (xs.Length == 0) continue;
            xRange.AddRange(xs);
            yRange.AddRange(ys);
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.LegendText = curve.Name;
            scatter.MarkerSize = curve.Markers ? 7 : 0;
            scatter.LineWidth = curve.Line ? 2 : 0;
            anyNamed |= curve.Name.Length > 0;
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
        if (anyNamed) plot.ShowLegend();

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

    private static (double[] X, double[] Y) Transform(PlotSeries curve, LinePlotSpec spec)
    {
        var xs = new List<double>(curve.X.Count);
        var ys = new List<double>(curve.Y.Count);
        for (int i = 0; i < curve.X.Count; i++)
        {
            double x = curve.X[i], y = curve.Y[i];
            if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
            if ((spec.LogX && x <= 0) || (spec.LogY && y <= 0)) continue;
            xs.Add(spec.LogX ? Math.Log10(x) : x);
            ys.Add(spec.LogY ? Math.Log10(y) : y);
        }
        return (xs.ToArray(), ys.ToArray());
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
