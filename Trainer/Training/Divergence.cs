using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Training;

/// <summary>The exit-10 error of a run whose loss, gradient norm or weights stopped being finite, with the way on.</summary>
internal static class Divergence
{
    /// <param name="lastGoodStep">The step of the last checkpoint written with finite weights and loss, or null when none was.</param>
    public static VkDiffusionException At(string what, long step, string runDirectory, long? lastGoodStep)
    {
        string kept = lastGoodStep is long good
            ? $"the last good checkpoint is {TrainingRun.LastCheckpoint(runDirectory)} (step {good})"
            : "no checkpoint was written yet, so the run restarts from step 0";
        return new VkDiffusionException($"{what} at step {step}; the run stopped and {kept}. Lower --lr or raise --warmup: " +
            $"vkdiff train --resume {runDirectory} --lr LR --warmup FRACTION", ExitCodes.Diverged);
    }
}
