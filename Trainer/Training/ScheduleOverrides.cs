using System.Globalization;
using System.Text.Json;

namespace VkDiffusion.Trainer.Training;

/// <summary>
/// The settings `train --resume` may change: those of the learning-rate schedule and the clip, which is what the
/// advice of a diverged run (exit 10) asks for. A change is written into config.json and recorded, with the step
/// from which it applies, as one line of RUN_DIR/history.jsonl.
/// </summary>
public sealed record ScheduleOverrides
{
    public const string HistoryFile = "history.jsonl";

    public double? LearningRate { get; init; }
    public double? MinLearningRate { get; init; }
    public double? WarmupFraction { get; init; }
    public double? ClipNorm { get; init; }

    public TrainingOptions ApplyTo(TrainingOptions options) => options with
    {
        LearningRate = LearningRate ?? options.LearningRate,
        MinLearningRate = MinLearningRate ?? options.MinLearningRate,
        WarmupFraction = WarmupFraction ?? options.WarmupFraction,
        ClipNorm = ClipNorm ?? options.ClipNorm,
    };

    /// <summary>Appends what changed between <paramref name="before"/> and <paramref name="after"/>; writes nothing when nothing did.</summary>
    public static void Record(string runDirectory, long step, TrainingOptions before, TrainingOptions after)
    {
        var changes = new Dictionary<string, double[]>();
        void Compare(string option, double from, double to)
        {
            if (from != to) changes[option] = [from, to];
        }
        Compare("lr", before.LearningRate, after.LearningRate);
        Compare("min_lr", before.MinLearningRate, after.MinLearningRate);
        Compare("warmup", before.WarmupFraction, after.WarmupFraction);
        Compare("clip", before.ClipNorm, after.ClipNorm);
        if (changes.Count == 0) return;
        string line = JsonSerializer.Serialize(new
        {
            utc = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            from_step = step,
            changes,
        });
        File.AppendAllText(Path.Combine(runDirectory, HistoryFile), line + "\n");
    }
}
