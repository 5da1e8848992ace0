using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Experiments;

public sealed class ObservedCrossoverPlotsTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("vkdiff-observed-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static RunResult Run(string objective, double epochs, double bestLoss) =>
        new(objective, "tiny", 100_000, 1_000, epochs, (long)(1_000 * epochs), 6.0 * 100_000 * 1_000 * epochs, bestLoss, bestLoss, epochs, 1, "test");

    /// <summary>Validation every 1,000 tokens (one epoch), losses as given.</summary>
    private static List<MetricsRecord> Curve(params double[] losses) =>
        losses.Select((loss, i) => new MetricsRecord(i + 1, i + 1, 1_000L * (i + 1), loss + 0.5, loss, 1e-3, 1, 1000, i)).ToList();

    [Fact]
    public void The_crossing_is_the_first_evaluation_below_ar_s_best()
    {
        var mdm = Run("mdm", 4, 2.2);
        Assert.Equal((6.0 * 100_000 * 3_000, 2.2), ObservedCrossoverPlots.FirstBelow(mdm, Curve(3.0, 2.5, 2.2, 2.3), 2.4));
        Assert.Null(ObservedCrossoverPlots.FirstBelow(mdm, Curve(3.0, 2.5), 2.4));
    }

    [Fact]
    public void Curves_of_the_compared_runs_are_drawn_and_runs_without_one_left_out()
    {
        List<RunResult> runs = [Run("ar", 4, 2.4), Run("mdm", 4, 2.2), Run("mdm", 2, 2.6)];
        void WriteCurve(string id, List<MetricsRecord> curve) => curve.ForEach(new MetricsLog(Path.Combine(directory, id + ObservedCrossoverPlots.CurveSuffix)).Append);
        WriteCurve("ar-tiny-U1000-E4", Curve(3.0, 2.4, 2.6, 2.9));
        WriteCurve("mdm-tiny-U1000-E4", Curve(3.0, 2.5, 2.2, 2.3));
        var observation = CrossoverObservation.From(runs);
        string path = Path.Combine(directory, "observed.png");
        Assert.Equal(2, ObservedCrossoverPlots.WriteLossCurves(path, runs, observation, directory)); // mdm E2 has no curve
        Assert.True(new FileInfo(path).Length > 1000);
        string law = Path.Combine(directory, "law.png");
        ObservedCrossoverPlots.WriteCriticalCompute(law, observation);
        Assert.True(new FileInfo(law).Length > 1000);
    }
}
