using VkDiffusion.Trainer.Plots;

namespace VkDiffusion.Trainer.Training;

/// <summary>RUN_DIR/loss.png: train and validation loss against tokens, epoch boundaries marked.</summary>
public static class TrainingPlots
{
    private const int MaxMarkedBoundaries = 40;

    public static void WriteLossPlot(string runDirectory, long uniqueTokens, TrainingOptions options)
    {
        var records = MetricsLog.Read(Path.Combine(runDirectory, TrainingRun.MetricsFile));
        if (records.Count == 0) return;
        var validation = records.Where(r => r.ValLoss is not null).ToList();
        // Mark every epoch, or every k-th when there are too many to tell apart.
        int every = Math.Max(1, (int)Math.Ceiling(options.Epochs / (double)MaxMarkedBoundaries));
        var boundaries = Enumerable.Range(1, options.Epochs - 1).Where(e => e % every == 0).Select(e => (double)e * uniqueTokens).ToList();
        LinePlot.Save(Path.Combine(runDirectory, TrainingRun.PlotFile),
            new LinePlotSpec($"{options.Objective.ToString().ToUpperInvariant()} {options.Preset}: U = {uniqueTokens:N0} tokens x {options.Epochs} epochs",
                "tokens seen", "loss (nats/token)")
            {
                VerticalLines = boundaries,
            },
            [
                new PlotSeries("train", records.Select(r => (double)r.Tokens).ToList(), records.Select(r => r.TrainLoss).ToList()),
                new PlotSeries("validation", validation.Select(r => (double)r.Tokens).ToList(), validation.Select(r => r.ValLoss!.Value).ToList(), Markers: true),
            ]);
    }
}
