using VkDiffusion.Trainer.Plots;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>The study's figures from results.csv (and a fit): loss against epochs per budget, loss against compute.</summary>
public static class StudyPlots
{
    /// <summary>
    /// One PNG per unique-token budget: the validation loss at the end of each run against its epochs, a
    /// line per family and preset (the final loss shows overfitting, which the best loss would hide).
    /// </summary>
    public static IReadOnlyList<string> WriteEpochPlots(string outputDirectory, IReadOnlyList<RunResult> results)
    {
        var written = new List<string>();
        foreach (var budget in results.GroupBy(r => r.UniqueTokens).OrderBy(g => g.Key))
        {
            var series = budget
                .GroupBy(r => (r.Objective, r.Preset))
                .OrderBy(g => g.Key.Objective).ThenBy(g => g.Key.Preset)
                .Select(g =>
                {
                    var points = g.OrderBy(r => r.Epochs).ToList();
                    return new PlotSeries($"{g.Key.Objective.ToUpperInvariant()} {g.Key.Preset}", points.Select(r => r.Epochs).ToList(),
                        points.Select(r => r.FinalValLoss).ToList(), Markers: true);
                });
            string path = Path.Combine(outputDirectory, $"loss_vs_epochs_U{budget.Key}.png");
            LinePlot.Save(path,
                new LinePlotSpec($"Final validation loss vs epochs, U = {budget.Key:N0} tokens", "epochs", "final validation loss (nats/token)") { LogX = true },
                series);
            written.Add(path);
        }
        return written;
    }

    /// <summary>
    /// Observed best validation loss against compute (6ND) for every run, and for each family and budget
    /// the fitted law's loss at the best model size for each compute (D = C / 6N), when a fit is given, with the
    /// 90 % band of the bootstrap resamples' laws where <paramref name="resamples"/> has that family's.
    /// </summary>
    public static string WriteComputePlot(string path, IReadOnlyList<RunResult> results, FitFile? fit,
        IReadOnlyDictionary<string, IReadOnlyList<ScalingLaw>>? resamples = null)
    {
        var series = new List<PlotSeries>();
        foreach (var family in results.GroupBy(r => r.Objective).OrderBy(g => g.Key))
        {
            var runs = family.OrderBy(r => r.Flops).ToList();
            series.Add(new PlotSeries($"{family.Key.ToUpperInvariant()} runs", runs.Select(r => r.Flops).ToList(), runs.Select(r => r.BestValLoss).ToList(),
                Markers: true, Line: false));
            if (fit is null || !fit.Objectives.ContainsKey(family.Key)) continue;
            ScalingLaw law = fit.Law(family.Key);
            var familyResamples = resamples?.GetValueOrDefault(family.Key);
            double low = runs.Min(r => r.Flops), high = runs.Max(r => r.Flops);
            foreach (long unique in runs.Select(r => r.UniqueTokens).Distinct().OrderBy(u => u))
            {
                var computes = Enumerable.Range(0, 40).Select(i => low * Math.Pow(high / low, i / 39.0)).ToList();
                series.Add(new PlotSeries($"{family.Key.ToUpperInvariant()} law, U = {unique:N0}{(familyResamples is null ? "" : " (90% band)")}", computes,
                    computes.Select(c => Crossover.MinimumLoss(law, c, unique).Loss).ToList(),
                    Band: familyResamples is null ? null : PredictionBand(familyResamples, computes, unique)));
            }
        }
        LinePlot.Save(path, new LinePlotSpec("Validation loss vs compute", "compute C = 6ND (FLOPs)", "validation loss (nats/token)") { LogX = true }, series);
        return path;
    }

    /// <summary>
    /// At each compute, the central 90 % (5-95 % percentiles) of the laws' compute-optimal losses: the envelope of
    /// the bootstrap resamples' predictions. A law whose prediction is not finite there is left out.
    /// </summary>
    public static PlotBand PredictionBand(IReadOnlyList<ScalingLaw> laws, IReadOnlyList<double> computes, double uniqueTokens)
    {
        var low = new double[computes.Count];
        var high = new double[computes.Count];
        Parallel.For(0, computes.Count, i =>
        {
            var losses = laws.Select(law => Crossover.MinimumLoss(law, computes[i], uniqueTokens).Loss).Where(double.IsFinite).ToList();
            (low[i], high[i]) = losses.Count > 0 ? FitBootstrap.Percentiles(losses) : (double.NaN, double.NaN);
        });
        return new PlotBand(low, high);
    }
}
