using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli;

/// <summary>--run RUN_DIR or --checkpoint FILE to one checkpoint path.</summary>
public static class CheckpointResolver
{
    public static string Resolve(string? runDirectory, string? checkpoint)
    {
        if (checkpoint is not null) return checkpoint;
        if (runDirectory is null) throw new InvalidInputException("give --run RUN_DIR or --checkpoint FILE.");
        string best = TrainingRun.BestCheckpoint(runDirectory), last = TrainingRun.LastCheckpoint(runDirectory);
        return File.Exists(best) ? best : File.Exists(last) ? last
            : throw new InvalidInputException($"{runDirectory} has no checkpoint (checkpoints/best.safetensors or last.safetensors).");
    }
}
