using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class StudyPlotsTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("vkdiff-studyplots-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static readonly ScalingLaw Law = new(A: 800, B: 3000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 15.4, RNStar: 30);

    [Fact]
    public void Prediction_band_is_the_5_to_95_percent_envelope_of_the_resampled_laws()
    {
        // 21 resamples that differ only in E0 by 0, 0.01 .. 0.20 (shuffled): E0 adds to the loss at every size, so each
        // law's compute-optimal loss is the base law's plus its offset, and the 5 % and 95 % percentiles of 21 values
        // sit at the 2nd and 20th smallest: offsets 0.01 and 0.19.
        var offsets = Enumerable.Range(0, 21).Select(k => 0.01 * k).OrderBy(offset => Math.Sin(offset * 1000)).ToList();
        var laws = offsets.Select(offset => Law with { E0 = Law.E0 + offset }).ToList();
        double[] computes = [1e15, 1e17, 1e19];
        var band = StudyPlots.PredictionBand(laws, computes, 50e6);
        for (int i = 0; i < computes.Length; i++)
        {
            double baseLoss = Crossover.MinimumLoss(Law, computes[i], 50e6).Loss;
            Assert.Equal(baseLoss + 0.01, band.Low[i], 9);
            Assert.Equal(baseLoss + 0.19, band.High[i], 9);
        }
    }

    [Fact]
    public void Compute_plot_with_resamples_is_written_and_decodable()
    {
        var runs = SyntheticRuns.Sweep(Law, 0.01, 1).Where((_, i) => i % 7 == 0).Select(p => SyntheticRuns.ToRun(p, "ar")).ToList();
        var fit = new FitFile("best_val_loss", new Dictionary<string, ObjectiveFit> { ["ar"] = new("ar", Law, [], null, null, []) });
        var resamples = new Dictionary<string, IReadOnlyList<ScalingLaw>>
        {
            ["ar"] = Enumerable.Range(0, 20).Select(k => Law with { RDStar = 10 + k }).ToList(),
        };
        string path = StudyPlots.WriteComputePlot(Path.Combine(directory, "loss_vs_compute.png"), runs, fit, resamples);
        using var image = SkiaSharp.SKBitmap.Decode(path);
        Assert.Equal((900, 560), (image.Width, image.Height));
    }
}
