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
    }
}
