namespace VkDiffusion.Trainer.Training;

/// <summary>
/// PAPER §4: linear warmup from 0 to the peak over the first warmup steps, then cosine decay to the
/// minimum over the rest of the run, so the schedule stretches with the epoch count.
/// </summary>
public sealed record LearningRateSchedule(double PeakLearningRate, double MinLearningRate, long WarmupSteps, long TotalSteps)
{
    /// <summary>The learning rate of 0-based step <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return PeakLearningRate * (step + 1) / WarmupSteps;
        long decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        return MinLearningRate + 0.5 * (PeakLearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
