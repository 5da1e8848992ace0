using System.Buffers.Binary;
using VkDiffusion.Trainer.Plots;

namespace VkDiffusion.Tests.Experiments;

public sealed class LinePlotTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"vkdiff-plot-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    /// <summary>A PNG starts with its 8-byte signature, then the IHDR chunk holding width and height (big-endian).</summary>
    private static (int Width, int Height) ReadPngSize(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000, $"{path} is only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Fact]
    public void Loss_curve_with_epoch_boundaries_is_written_as_png()
    {
        var tokens = Enumerable.Range(1, 200).Select(i => i * 1e6).ToArray();
        var train = tokens.Select(t => 3 + 8 / Math.Sqrt(t / 1e6)).ToArray();
        var validation = tokens.Select(t => 3.2 + 8 / Math.Sqrt(t / 1e6)).ToArray();
        string path = Path.Combine(directory, "nested", "loss.png");
        LinePlot.Save(path, new LinePlotSpec("loss", "tokens", "loss") { LogX = true, VerticalLines = [50e6, 100e6, 150e6] },
            [new PlotSeries("train", tokens, train), new PlotSeries("val", tokens, validation, Markers: true)]);
        Assert.Equal((900, 560), ReadPngSize(path));
    }

    [Fact]
    public void Log_log_plot_drops_points_it_cannot_show_and_honours_the_size()
    {
        string path = Path.Combine(directory, "ccrit.png");
        LinePlot.Save(path, new LinePlotSpec("C_crit", "U", "FLOPs") { LogX = true, LogY = true, Width = 640, Height = 400 },
            [new PlotSeries("points", [0, 25e6, 50e6, 100e6], [1, 2.32e18, double.NaN, 4.72e19], Markers: true, Line: false)]);
        Assert.Equal((640, 400), ReadPngSize(path));
    }

    [Fact]
    public void Mismatched_series_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => LinePlot.Save(Path.Combine(directory, "x.png"), new LinePlotSpec("t", "x", "y"),
            [new PlotSeries("bad", [1, 2], [1])]));
        Assert.Throws<ArgumentException>(() => LinePlot.Save(Path.Combine(directory, "x.png"), new LinePlotSpec("t", "x", "y"),
            [new PlotSeries("bad band", [1, 2], [1, 2], Band: new PlotBand([0.5], [1.5, 2.5]))]));
    }

    [Fact]
    public void A_band_is_filled_in_its_series_colour_between_its_edges()
    {
        // A flat line at y = 2 with a band from 1 to 3; a second series of two markers at y = 0 and 4 fixes the y axis.
        double[] xs = [1, 2, 3, 4, 5];
        var spec = new LinePlotSpec("band", "x", "y") { Width = 400, Height = 300 };
        PlotSeries Frame() => new("frame", [1, 5], [0, 4], Markers: true, Line: false);
        string banded = Path.Combine(directory, "banded.png"), plain = Path.Combine(directory, "plain.png");
        LinePlot.Save(banded, spec, [new PlotSeries("law", xs, [2, 2, 2, 2, 2], Band: new PlotBand([1, 1, 1, 1, 1], [3, 3, 3, 3, 3])), Frame()]);
        LinePlot.Save(plain, spec, [new PlotSeries("law", xs, [2, 2, 2, 2, 2]), Frame()]);
        using var withBand = SkiaSharp.SKBitmap.Decode(banded);
        using var without = SkiaSharp.SKBitmap.Decode(plain);
        Assert.Equal((400, 300), (withBand.Width, withBand.Height));
        Assert.Equal((400, 300), (without.Width, without.Height));
        // The band covers about half the data area: many pixels differ, and they are coloured (the series' colour at 20 %
        // alpha over white), not the grey of text and frame.
        int differing = 0, tinted = 0;
        for (int column = 0; column < 400; column++)
            for (int row = 0; row < 300; row++)
            {
                var pixel = withBand.GetPixel(column, row);
                if (pixel == without.GetPixel(column, row)) continue;
                differing++;
                if (pixel.Red != pixel.Green || pixel.Green != pixel.Blue) tinted++;
            }
        Assert.True(differing > 400 * 300 / 20, $"only {differing} pixels differ");
        Assert.True(tinted > differing / 2, $"{tinted} of {differing} differing pixels are coloured");
    }
}
